"""Running an ASGI app under uvicorn on a socket bound before the server starts.

Binding first means the caller knows the real port (port 0 asks the kernel
for a free one) and can print the address to subscribe to before a single
request arrives, and that "address already in use" is reported as a clear
error instead of a uvicorn traceback.
"""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn

from aggregator.errors import AggregatorError


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; `AggregatorError` if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise AggregatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """The http:// base address a client should use for this socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    return f"http://{shown}:{port}"


def server(app: Any, log_level: int = logging.WARNING) -> uvicorn.Server:
    """A uvicorn server for `app` that leaves logging to the caller's configuration."""
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket, log_level: int = logging.WARNING) -> list[str]:
    """Serve `app` on `sock` in the foreground until SIGINT or SIGTERM.

    uvicorn turns those signals into a graceful shutdown and then re-raises
    them, which would end the process by the signal (or a KeyboardInterrupt)
    after a clean stop. The handlers installed here receive the re-raise, so
    a requested stop returns normally; the names of the signals are returned.

    Raises `AggregatorError` when the app never started (its lifespan startup
    failed; uvicorn has logged why), so the command can exit non-zero.
    """
    received: list[str] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)

    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, record) for sig in stops}
    running = server(app, log_level)
    try:
        running.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if not running.started:
        raise AggregatorError("the web server did not start; the log above says why")
    return received
