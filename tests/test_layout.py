"""The package layout draws the data flow, and the imports keep to it.

The layers, lowest first, in the order data moves (docs/architecture.md):
core → config → store → ingest → publish → follow → engine → web →
devtools → cli. A module may import its own layer and the layers below it, never
one above; no two modules import each other, directly or round a cycle; and
no module of ours is imported inside a function, where it would hide a cycle
or a dependency the layers do not show.

One import waits on purpose, by one mechanism: the command's dispatch.
`cli.main.HANDLERS` names each command's handler as "module:function", and
`cli.main` imports that module when the command runs, so `--help` and
`sources` load none of the libraries the other commands need
(tests/test_cli_startup.py). Here the table's modules count as imports of
`cli.main`, for the layers and the cycle check alike, and no other module
imports by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aggregator.cli.main import HANDLERS

PACKAGE = Path(__file__).resolve().parent.parent / "aggregator"
LAYERS = (
    "core", "config", "store", "ingest", "publish", "follow", "engine", "web", "devtools", "cli",
)  # fmt: skip
DISPATCH = "aggregator.cli.main"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue  # Alembic's scripts: loaded by Alembic, not imported by us
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _ours(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The modules of ours an import statement names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: not used in this package, but resolve anyway
            base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
        # `from package import submodule` imports the submodule; any other
        # name comes from the package (or module) itself.
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
            for alias in node.names
        ]
    return [name for name in names if name in MODULES and name not in ("aggregator", module)]


def _handler_modules() -> set[str]:
    """The modules `HANDLERS` names: the dispatch imports them by name."""
    return {target.partition(":")[0] for target in HANDLERS.values()}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(imported at module level, or by the dispatch; imported inside a function)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top: set[str] = _handler_modules() if module == DISPATCH else set()
    inner: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        target = top if node in tree.body or _type_checking_only(tree, node) else inner
        target.update(_ours(node, module))
    return top, inner


def _type_checking_only(tree: ast.Module, node: ast.AST) -> bool:
    for statement in tree.body:
        if (
            isinstance(statement, ast.If)
            and isinstance(statement.test, ast.Name)
            and statement.test.id == "TYPE_CHECKING"
            and node in list(ast.walk(statement))
        ):
            return True
    return False


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return -1  # the package itself (its version): below everything
    if parts[1] == "__main__":
        return LAYERS.index("cli")  # `python -m aggregator` is the command
    return LAYERS.index(parts[1])


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in (*LAYERS, "__main__"), f"{module} is in no layer"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module: str) -> None:
    top, inner = _imports(module)
    for imported in top | inner:
        assert _layer(imported) <= _layer(module), f"{module} imports {imported}, a layer above"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_hides_inside_a_function(module: str) -> None:
    _, inner = _imports(module)
    assert not inner, f"{module} imports {sorted(inner)} inside a function"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_dispatch_imports_by_name(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    by_name = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "__import__")
        or (isinstance(node, ast.alias) and node.name.split(".")[0] == "importlib")
        or (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("importlib"))
    ]
    assert module == DISPATCH or not by_name, f"{module} imports by name (line {by_name[0]})"


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_the_dispatch_names_handlers_of_the_command(name: str) -> None:
    """Each entry is a function in a module of the cli layer, one that the
    dispatch does not import at the top as well (which would undo the wait)."""
    module, _, function = HANDLERS[name].partition(":")
    assert module in MODULES and _layer(module) == LAYERS.index("cli"), HANDLERS[name]
    dispatch = ast.parse(MODULES[DISPATCH].read_text(encoding="utf-8"))
    for node in dispatch.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert module not in _ours(node, DISPATCH), f"{DISPATCH} imports {module} at the top"
    defined = ast.parse(MODULES[module].read_text(encoding="utf-8")).body
    assert any(isinstance(node, ast.FunctionDef) and node.name == function for node in defined)


def test_core_imports_nothing_else_of_ours() -> None:
    for module in MODULES:
        if module.startswith("aggregator.core"):
            top, inner = _imports(module)
            outside = {m for m in top | inner if not m.startswith("aggregator.core")}
            assert not outside, f"{module} imports {sorted(outside)}"


def test_no_import_cycle() -> None:
    graph = {module: _imports(module)[0] for module in MODULES}
    # A package's __init__ naming its own submodules is not a cycle through them.
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if imported.startswith(module + "."):
                continue
            if state.get(imported) == 1:
                cycle = [*path[path.index(imported) :], imported]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_checks_can_fail() -> None:
    """A module of a low layer that imported a high one would be caught, and
    a handler module that imported the dispatch back would be a cycle."""
    assert _layer("aggregator.core.events") < _layer("aggregator.cli.main")
    assert "aggregator.cli.sources" in _imports(DISPATCH)[0]
