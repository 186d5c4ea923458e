"""Real processes for end-to-end tests: the live fixture and the service, over real HTTP.

Every process is `python -m aggregator ...` started as a child of the test,
with its stdout and stderr written to files (so a full pipe can never stall
it and its output is there to read after it has exited), on a port of
127.0.0.1 found free just before. Waiting is always bounded: a hang fails the
test with what the process had printed, it never blocks the run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from lxml import etree

from tests.conftest import config_text
from tests.support import REPO

T = TypeVar("T")

STARTUP_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
ATOM = "{http://www.w3.org/2005/Atom}"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    The sockets are held open together while the kernel picks, so the ports
    differ; they are closed before returning, for a child process to bind.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def clean_env() -> dict[str, str]:
    """This environment without the developer's own AGGREGATOR_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One short `aggregator` command, run to completion."""
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=REPO,
        timeout=CLI_TIMEOUT,
    )


def events(config: Path, since: int = 0) -> list[dict[str, Any]]:
    """The event log as `aggregator events --json` prints it."""
    result = cli(config, "events", "--json", "--since", str(since))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """Call `check` until it returns something other than None; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g}s for {what}")
        time.sleep(every)


def get(url: str, timeout: float = 5.0, **headers: str) -> httpx.Response | None:
    """GET `url`; None when nothing answers (yet)."""
    try:
        return httpx.get(url, headers=headers, timeout=timeout)
    except httpx.TransportError:
        return None


def atom_ids(document: bytes) -> list[str]:
    """The entry ids of an Atom document, in document order."""
    root = etree.fromstring(document)
    return [entry.findtext(f"{ATOM}id") or "" for entry in root.iter(f"{ATOM}entry")]


class Process:
    """A child `aggregator` process whose output goes to files under `logs`."""

    def __init__(self, name: str, args: list[str], logs: Path) -> None:
        self.name = name
        self.args = args
        self.stdout_path = logs / f"{name}.stdout"
        self.stderr_path = logs / f"{name}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "aggregator", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=clean_env(),
                cwd=REPO,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        """Everything the process has said so far, for assertion messages."""
        status = self.popen.poll()
        return (
            f"{self.name} (pid {self.pid}, exit status {status}): {' '.join(self.args)}\n"
            f"--- stdout ---\n{self.stdout()[-4000:]}\n--- stderr ---\n{self.stderr()[-8000:]}"
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited early\n{self.describe()}")

    def signal(self, sig: signal.Signals, timeout: float) -> int | None:
        """Send `sig` and wait up to `timeout` seconds; the exit status, None if still running."""
        if self.alive():
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Make sure the process is gone: SIGTERM, then SIGKILL. Safe to call twice."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def start_fixture(config: Path, port: int, speed: float, logs: Path) -> Process:
    """`aggregator fixtures serve` for `config`'s file sources; returns once `/` answers."""
    process = Process(
        "fixture",
        [
            "--config",
            str(config),
            "fixtures",
            "serve",
            "--port",
            str(port),
            "--speed",
            f"{speed:g}",
        ],
        logs,
    )
    try:

        def answered() -> bool | None:
            process.check_alive()
            response = get(f"http://127.0.0.1:{port}/")
            return True if response is not None and response.status_code == 200 else None

        wait_for(answered, STARTUP_TIMEOUT, "the fixture to answer")
    except BaseException:
        process.kill()
        raise
    return process


def start_service(config: Path, command: str, port: int, logs: Path, name: str = "") -> Process:
    """`aggregator run` or `serve` on `port`; returns once it has said where it serves
    and `/healthz` answers 200."""
    base = f"http://127.0.0.1:{port}"
    process = Process(
        name or command, ["--config", str(config), command, "--port", str(port)], logs
    )
    try:

        def announced() -> bool | None:
            process.check_alive()
            return True if f"serving {base}/feed.atom" in process.stdout() else None

        def healthy() -> bool | None:
            process.check_alive()
            response = get(f"{base}/healthz")
            return True if response is not None and response.status_code == 200 else None

        try:
            wait_for(announced, STARTUP_TIMEOUT, f"{command} to print its address")
            wait_for(healthy, STARTUP_TIMEOUT, f"{command}'s /healthz to answer 200")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{process.describe()}") from None
    except BaseException:
        process.kill()
        raise
    return process


def start_run(config: Path, tmp_path: Path) -> tuple[Process, str]:
    """`aggregator run` on a free port, output under `tmp_path/logs`: (process, base URL)."""
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return start_service(config, "run", port, logs), f"http://127.0.0.1:{port}"


def live_config_text(
    database: Path | str,
    output: Path,
    service_port: int,
    fixture_port: int,
    interval: str = "1s",
) -> str:
    """A service config polling the live fixture: the seed config's sources, over HTTP."""
    fixture = f"http://127.0.0.1:{fixture_port}"
    urls = {name: f"{fixture}/{name}" for name in ("aljazeera", "dailyknight")}
    return config_text(database, output, urls, interval=interval, port=service_port)
