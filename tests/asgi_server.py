"""A real uvicorn server for an ASGI app, on 127.0.0.1, for the length of a test.

Tests talk to it over real sockets with a real HTTP client, so headers,
HEAD handling and 304s are what a poller would see, not what a test client
simulates. The server is the one the service uses (`aggregator.webserver`),
run in a background thread. uvicorn sets signal handlers only on the main
thread (since 0.13 `install_signal_handlers`, since 0.29 `capture_signals`,
both skip other threads), so no override is needed and Ctrl-C still reaches
pytest; the server is stopped the way uvicorn's own handler would stop it, by
setting `should_exit`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aggregator.web import server as webserver

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` on a free port and yield its base URL (http://127.0.0.1:PORT)."""
    sock = webserver.bind("127.0.0.1", 0)
    base = webserver.address(sock)
    server = webserver.server(app)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit when lifespan startup fails
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn {base}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the test server stopped before it started: {failure!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start within {STARTUP_TIMEOUT}s")
            time.sleep(0.01)
        yield base
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()
    # Only reached when the test itself passed, so this never hides its failure.
    if thread.is_alive():
        raise RuntimeError(f"the test server did not stop within {SHUTDOWN_TIMEOUT}s")
    if failure:
        raise RuntimeError(f"the test server failed: {failure[0]!r}") from failure[0]
