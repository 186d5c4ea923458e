"""Running an ASGI app under uvicorn on a socket bound before the server starts.

Binding first means the caller knows the real port (port 0 asks the kernel
for a free one) and can print the address to subscribe to before a single
request arrives, and that "address already in use" is reported as a clear
error instead of a uvicorn traceback.

The server faces feed readers directly, so it sets its own limits rather than
relying on uvicorn's defaults (see `server`): every connection is either
serving a request or close to its end, and what one client can make the
process hold is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from aggregator.core.errors import AggregatorError


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


# A request head still arriving may be buffered up to this many bytes; past it
# the connection gets a 400 and is closed. It is above the app's own limits on
# the target and the headers (`web.MAX_TARGET`, `web.MAX_HEADER_BYTES`), so a
# head those reject is answered 414/431 whether it came in one read or many.
MAX_INCOMPLETE_HEAD = 32 * 1024
# Seconds a client has to send a complete request head, counted from when the
# server is ready for it (the connection opened, or the previous response sent).
HEAD_TIMEOUT = 10.0
# Seconds an idle kept-alive connection is kept (uvicorn's default, made explicit).
KEEP_ALIVE_TIMEOUT = 5
# Connections (or requests in progress) beyond which a request is answered 503
# at once, instead of each new one adding to the process's memory.
MAX_CONNECTIONS = 1000


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for every request head.

    uvicorn times out an idle kept-alive connection only until its next byte,
    and a new connection not at all: a client that connects and sends
    nothing, or sends its head a byte at a time, would hold its socket and
    buffers for ever, and enough such clients would use up the process's
    file descriptors and lock every reader out. Here each head (the first and
    each next one on a kept-alive connection) must be complete within
    `HEAD_TIMEOUT` seconds, or the connection is closed.
    """

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a complete head arrived and a request started
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        # Armed first: completing the response may start a pipelined request
        # at once, which disarms it again.
        self._arm_head_timer()
        super().on_response_complete()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def server(app: Any, log_level: int = logging.WARNING) -> uvicorn.Server:
    """A uvicorn server for `app` that leaves logging to the caller's configuration.

    Its limits are explicit (the constants above): the h11 implementation
    always, so they do not change with whatever else is installed; no
    WebSockets (the app has none); a request head must arrive within
    `HEAD_TIMEOUT` and, while arriving, fit in `MAX_INCOMPLETE_HEAD` bytes;
    idle connections close after `KEEP_ALIVE_TIMEOUT`; past `MAX_CONNECTIONS`
    a request gets a 503 at once.
    """
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        http=HeadTimeoutProtocol,
        ws="none",
        h11_max_incomplete_event_size=MAX_INCOMPLETE_HEAD,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        limit_concurrency=MAX_CONNECTIONS,
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
