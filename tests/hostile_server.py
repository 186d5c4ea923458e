"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, case by case.

Each case of `tests/fixtures/hostile/cases.toml` is served at `/<name>`, the
way its table says: a status and headers, a body read from a fixture file,
given inline or generated (a gzip bomb, a body far over the cap, random
bytes), and a behaviour (`respond`, `stall`, `stall-headers`, `redirect`,
`chain`). Requests to `/canary/...` are recorded and answered 404, so a test
can prove that a document never made us fetch what it named.

Every wait is bounded: a stalled answer gives up after `STALL_SECONDS`, and a
huge body stops at its size or when the client hangs up.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STALL_SECONDS = 4.0
HUGE_BYTES = 24 * 1024 * 1024
BOMB_BYTES = 256 * 1024 * 1024
CHUNK = 64 * 1024


def _bomb() -> bytes:
    """256 MiB of zeros, gzipped to about 250 kB (compressed as a stream, so the
    zeros are never in memory at once)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(CHUNK)
    parts = [packer.compress(zeros) for _ in range(BOMB_BYTES // CHUNK)]
    return b"".join([*parts, packer.flush()])


_GENERATED: dict[str, bytes] = {}


def generated(name: str) -> bytes:
    if name not in _GENERATED:
        if name == "gzip-bomb":
            _GENERATED[name] = _bomb()
        elif name == "random":
            _GENERATED[name] = random.Random(6).randbytes(4096)
        else:
            raise KeyError(f"no generator {name!r}")
    return _GENERATED[name]


class HostileServer:
    def __init__(self, cases: dict[str, dict[str, Any]], fixtures: Path) -> None:
        for case in cases.values():  # made now, not while a client waits for them
            if case.get("generate") not in (None, "huge"):
                generated(case["generate"])
        self.cases = cases
        self.fixtures = fixtures
        self.canary_hits: list[str] = []
        self.base = ""

    def body(self, case: dict[str, Any]) -> bytes:
        if "file" in case:
            body = (self.fixtures / case["file"]).read_bytes()
            return body.replace(b"{base}", self.base.encode())
        if "generate" in case:
            return b"" if case["generate"] == "huge" else generated(case["generate"])
        return str(case.get("body", "")).encode("utf-8")

    @contextmanager
    def running(self) -> Iterator[str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.base
        finally:
            server.shutdown()
            server.server_close()


def _handler(owner: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.startswith("/canary/"):
                owner.canary_hits.append(path)
                self._plain(404, b"no canary here")
                return
            name, _, step = path.strip("/").partition("/")
            case = owner.cases.get(name)
            if case is None:
                self._plain(404, b"no such case")
                return
            behaviour = case.get("behaviour", "respond")
            if behaviour == "stall-headers":
                time.sleep(STALL_SECONDS)
                self.close_connection = True
                return
            if behaviour in ("redirect", "chain"):
                location = str(case.get("location", "")).replace("{base}", owner.base)
                if behaviour == "chain":
                    location = f"{owner.base}/{name}/{int(step or 0) + 1}"
                self.send_response_only(int(case.get("status", 302)))
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._respond(case, behaviour)

        def _respond(self, case: dict[str, Any], behaviour: str) -> None:
            body = owner.body(case)
            huge = case.get("generate") == "huge"
            length = case.get("length", "exact")
            self.send_response_only(int(case.get("status", 200)))
            self.send_header("Date", self.date_time_string())
            for header, value in case.get("headers", {}).items():
                self.send_header(header, value)
            if length == "none":
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(HUGE_BYTES if huge else len(body)))
            self.end_headers()
            try:
                if huge:
                    sent = 0
                    while sent < HUGE_BYTES:
                        self.wfile.write(b"a" * CHUNK)
                        sent += CHUNK
                elif behaviour == "stall":
                    self.wfile.write(body[:64])
                    self.wfile.flush()
                    time.sleep(STALL_SECONDS)
                    self.close_connection = True
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _plain(self, status: int, body: bytes) -> None:
            self.send_response_only(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
