"""A real HTTP server on 127.0.0.1 for integration tests.

Each route maps a path to a handler returning (status, headers, body); the
server honours If-None-Match against an ETag header of a 200 response, so
tests see real 304s. A `Content-Length` of "" means "send none" (the body then
ends when the connection closes, HTTP/1.0 style); a `Date` given by the route
replaces the server's own. It runs in a thread for the duration of a test.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Response = tuple[int, dict[str, str], bytes]
Route = Callable[[BaseHTTPRequestHandler], Response]


@contextmanager
def serve(
    routes: dict[str, Route], keep_alive: bool = False, host: str = "127.0.0.1"
) -> Iterator[str]:
    """Serve `routes` and yield the base URL (http://127.0.0.1:PORT); with
    `keep_alive`, as HTTP/1.1, keeping each connection open between requests;
    `host` "::1" serves on IPv6 loopback (http://[::1]:PORT)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self) -> None:
            route = routes.get(self.path)
            status, headers, body = route(self) if route else (404, {}, b"not found")
            etag = headers.get("ETag")
            if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            self.send_response_only(status)
            if "Date" not in headers:
                self.send_header("Date", self.date_time_string())
            for name, value in headers.items():
                if value != "":
                    self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
