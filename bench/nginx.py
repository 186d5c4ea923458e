"""A private nginx (and other outside tools) for the benchmarks, never left running.

`Nginx(root)` is a context manager: it writes a config into a temporary
prefix, starts Debian's nginx in the foreground (`daemon off;`) on a free
port of 127.0.0.1 serving `root` as static files (`etag on`, access log
off, one worker: the servers it is compared with are one process), waits
until it accepts connections, and on exit, whatever happened, stops its
whole process group (SIGTERM, then SIGKILL) and removes the prefix.

Children started here (nginx, `aggregator serve`) also get the parent's
death signal (Linux `PR_SET_PDEATHSIG`): a benchmark killed outright (a test
timeout sends SIGKILL, and no `finally` runs then) still takes them with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

INSTALL_HINT = "apt-get install -y nginx-light wrk"
# Where Debian puts nginx; a non-root PATH often lacks /usr/sbin.
_EXTRA_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_PR_SET_PDEATHSIG = 1


class ToolMissing(RuntimeError):
    """An outside program a benchmark needs is not installed: skip it, saying which."""


def tool(name: str) -> str | None:
    """The path of program `name`, looking in the sbin directories too."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    return shutil.which(name, path=search)


def require(*names: str) -> dict[str, str]:
    """Paths of the named programs; `ToolMissing` naming those absent."""
    found = {name: tool(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ToolMissing(f"{' and '.join(missing)} not installed (try: {INSTALL_HINT})")
    return {name: path for name, path in found.items() if path is not None}


def missing_tools(names: Sequence[str]) -> list[str]:
    return [name for name in names if tool(name) is None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, alive: Callable[[], bool], timeout: float, what: str) -> None:
    """Until 127.0.0.1:`port` accepts a connection; RuntimeError if `alive()` turns
    false first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError(f"{what} exited before listening on 127.0.0.1:{port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s")
        time.sleep(0.05)


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: Sequence[str], out: IO[Any], err: IO[Any], **kwargs: Any) -> subprocess.Popen[Any]:
    """A child in a process group of its own (so it can be stopped whole) that dies
    with this process."""
    return subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        process_group=0,
        preexec_fn=die_with_parent,
        **kwargs,
    )


def stop_group(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the child's process group, wait `grace` seconds, then SIGKILL the group.

    Safe to call twice, and after the child exited on its own (its group may
    still hold children of its own, such as nginx workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


MIME_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/xml": "xml",
    "text/html": "html",
    "text/plain": "txt",
}


def config_text(prefix: Path, root: Path, port: int) -> str:
    types = "\n".join(f"        {mime} {ext};" for mime, ext in MIME_TYPES.items())
    user = "user root;\n" if os.geteuid() == 0 else ""  # read the temp files as they are
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# generated by bench/nginx.py
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    types {{
{types}
    }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30s;
    keepalive_requests 1000000;
    etag on;
    server_tokens off;
{temp}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


class Nginx:
    """A private nginx serving `root` on 127.0.0.1 for the length of a `with` block."""

    def __init__(self, root: Path, startup_timeout: float = 10.0) -> None:
        self.root = root.resolve()
        self.binary = require("nginx")["nginx"]
        self.startup_timeout = startup_timeout
        self.port = 0
        self.prefix: Path | None = None
        self.process: subprocess.Popen[Any] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Nginx:
        self.prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        try:
            for attempt in range(3):
                if self._start():
                    return self
                if attempt == 2:
                    break
            raise RuntimeError(f"nginx would not start:\n{self.errors()}")
        except BaseException:
            self.close()
            raise

    def _start(self) -> bool:
        """One attempt on a fresh free port; False when another process took the port."""
        assert self.prefix is not None
        self.port = free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(config_text(self.prefix, self.root, self.port), encoding="utf-8")
        log = self.prefix / "stderr.log"
        (self.prefix / "error.log").unlink(missing_ok=True)
        with log.open("wb") as out:
            self.process = spawn(
                [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(log)], out, out
            )
        process = self.process
        try:
            wait_listening(self.port, lambda: process.poll() is None, self.startup_timeout, "nginx")
            return True
        except RuntimeError:
            stop_group(process)
            if re.search(r"Address already in use", self.errors()):
                return False
            raise RuntimeError(f"nginx did not start:\n{self.errors()}") from None

    def errors(self) -> str:
        if self.prefix is None:
            return ""
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                texts.append(path.read_text(encoding="utf-8", errors="replace")[-3000:])
        return "\n".join(texts)

    def close(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def terminated_on_sigterm() -> Iterator[None]:
    """SIGTERM raises SystemExit for the length of the block, so `finally` clauses
    (which stop nginx and servers) run when the benchmark is told to stop."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
