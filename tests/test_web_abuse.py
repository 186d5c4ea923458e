"""The web server under abuse, with real parts only.

A real `aggregator serve` process (uvicorn on a free port of 127.0.0.1) over
a real SQLite log that `aggregator collect` filled from the seed config.
Hostile requests are written byte for byte on plain sockets, so no client
library normalises a path, encodes a name or refuses to send a malformed
head. What is asserted, whatever the request:

* never a 5xx and never a hang (every socket has a timeout; the server must
  answer or close well within it), and the next ordinary request is served;
* the answer is the 4xx the request deserves (404 for a name that is not a
  feed, 400 for a head HTTP does not allow, 405 for a method other than
  GET/HEAD, 414/431 for an oversized head);
* no answer carries a path of this machine (the repository, the database,
  the config, /tmp, /etc), a database URL or a traceback.

Then a bounded load (50 concurrent clients, 3000 mixed requests a round,
a warm-up round and three measured ones) must see no error and no 5xx, with
the server's resident memory flat from round to round; clients that connect
and send nothing, or send a head a byte at a time, must be cut off after
`webserver.HEAD_TIMEOUT` without slowing anyone else; and when the database
breaks under the server, its 500s and 503s must say nothing about it.

`pytest -s` shows the figures: requests per second, statuses, RSS per round.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aggregator.web import app as web
from aggregator.web import server as webserver
from tests.conftest import Project, seed_config_text
from tests.service_process import Process, cli, free_port, start_service, wait_for
from tests.support import AJ_SEED, DK_SEED, REPO, SEEDS

# No answer to a single request may take longer (the server's keep-alive is 5 s).
SOCKET_TIMEOUT = 8.0
REAL_FEEDS = (b"/feed.atom", b"/sources/aljazeera.atom", b"/sources/dailyknight.atom")


# --- the server -------------------------------------------------------------------


@dataclass
class Served:
    process: Process
    port: int
    root: Path
    config: Path
    database: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def places(self) -> list[bytes]:
        """Paths of this machine no answer may contain."""
        here = [REPO, self.root, self.config, self.database, self.root / "feeds"]
        return [str(path).encode() for path in here] + [b"/work/", b"/tmp/", b"/home/"]

    def forbidden(self) -> list[bytes]:
        """What no error answer may contain: paths, a database URL, a traceback."""
        return [*self.places(), b"/etc/", b"sqlite:", b"[SQL:", b"Traceback", b'File "']

    def rss_mb(self) -> float:
        """The server process's resident set size, in MB (VmRSS of /proc/PID/status)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kb) / 1024

    def check_log(self) -> None:
        """The server is up and nothing it handled raised (uvicorn logs that with a traceback)."""
        self.process.check_alive()
        log = self.process.stderr()
        assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]


def build(root: Path) -> tuple[Path, Path]:
    """A config of the seed sources read as files under `root`, collected into
    its SQLite log: (config, database)."""
    seeds = root / "seeds"
    seeds.mkdir()
    for name in (AJ_SEED, DK_SEED):
        shutil.copy(SEEDS / name, seeds / name)
    database, config = root / "agg.db", root / "aggregator.toml"
    config.write_text(seed_config_text(seeds, database, root / "feeds"), encoding="utf-8")
    collected = cli(config, "collect")
    assert collected.returncode == 0, collected.stderr
    return config, database


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`aggregator serve` over the collected seed log, shared by the module's abuse tests."""
    root = tmp_path_factory.mktemp("abuse")
    config, database = build(root)
    port = free_port()
    process = start_service(config, "serve", port, root)
    try:
        yield Served(process, port, root, config, database)
    finally:
        process.kill()


# --- raw HTTP ---------------------------------------------------------------------


@dataclass
class Answer:
    """What came back on one connection, read until the server closed it."""

    raw: bytes
    seconds: float
    timed_out: bool
    reset: bool
    status: int | None = None  # None: closed without a status line
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        head, _, rest = self.raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 "):
            return
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        length = self.headers.get("content-length")
        self.body = rest[: int(length)] if length is not None else rest


def request(target: bytes, method: bytes = b"GET", headers: bytes = b"") -> bytes:
    return (
        method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + headers + b"\r\n"
    )  # fmt: skip


def exchange(port: int, data: bytes, timeout: float = SOCKET_TIMEOUT) -> Answer:
    """Send `data` on a new connection and read until the server closes it.

    A server that stops reading and closes (as it should for a head too big
    to buffer) may make the send fail or the connection reset: both are
    recorded, with whatever answer arrived before.
    """
    started = time.monotonic()
    chunks: list[bytes] = []
    timed_out = reset = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            reset = True
        try:
            while time.monotonic() - started < timeout:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            else:
                timed_out = True
        except TimeoutError:
            timed_out = True
        except OSError:
            reset = True
    return Answer(b"".join(chunks), time.monotonic() - started, timed_out, reset)


def assert_no_leak(served: Served, answer: Answer, what: object) -> None:
    """An answer in time, with nothing of this machine in it."""
    assert not answer.timed_out, f"{what}: no answer within {SOCKET_TIMEOUT}s"
    for marker in served.forbidden():
        assert marker not in answer.raw, (what, marker, answer.raw[:600])


def assert_clean(served: Served, answer: Answer, what: object) -> None:
    """No 5xx, no hang, nothing of this machine in the answer."""
    assert_no_leak(served, answer, what)
    assert answer.status is None or answer.status < 500, (what, answer.raw[:300])


def assert_serving(served: Served) -> None:
    """An ordinary request still gets the merged feed."""
    answer = exchange(served.port, request(b"/feed.atom", headers=b"Accept-Encoding: identity\r\n"))
    assert answer.status == 200 and b"<feed" in answer.body, answer.raw[:300]


# --- 1a. traversal and odd names --------------------------------------------------

TEN_KB = b"a" * 10_000

# (request target, expected status); each is sent as a GET with Connection: close.
HOSTILE_TARGETS: list[tuple[bytes, int]] = [
    (b"/sources/../../etc/passwd.atom", 404),
    (b"/sources/..%2f..%2fetc%2fpasswd.atom", 404),
    (b"/sources/..%2F..%2F..%2Fwork%2Fmain%2Fpyproject.toml", 404),
    (b"/sources/%2e%2e/%2e%2e/etc/passwd.atom", 404),
    (b"/sources/%2e%2e%2f%2e%2e%2faggregator.toml%00.atom", 404),
    (b"/sources/aljazeera%00.atom", 404),
    (b"/sources/aljazeera.atom%00.html", 404),
    (b"/sources/aljazeera.atom/../../../", 404),
    (b"/sources/..\\..\\etc\\passwd.atom", 404),
    (b"/sources/..%5c..%5cagg.db.atom", 404),
    (b"/sources/%252e%252e%252f%252e%252e%252fetc%252fpasswd.atom", 404),
    (b"/sources/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd.atom", 404),
    (b"/sources/%c0%af..%c0%afetc%c0%afpasswd.atom", 404),
    (b"http://127.0.0.1/etc/passwd", 404),
    (b"/feed.atom;/../config", 404),
    (b"/feed.atom/..;/aggregator.toml", 404),
    (b"//etc/passwd", 404),
    (b"/%2e%2e/%2e%2e/etc/passwd", 404),
    (b"/feeds/../aggregator.toml", 404),
    (b"/aggregator.toml", 404),
    (b"/agg.db", 404),
    (b"/feeds/feed.atom", 404),
    (b"/.git/config", 404),
    (b"/sources/.atom", 404),
    (b"/sources/..atom", 404),
    (b"/sources/...atom", 404),
    (b"/sources/" + TEN_KB + b".atom", 414),
    (b"/sources/%0d%0aX-Injected:%20yes%0d%0a.atom", 404),
    (b"/sources/%C3%A9t%C3%A9.atom", 404),
    (b"/sources/%E2%80%AEmota.atom", 404),
    (b"/sources/%F0%9F%92%A9.atom", 404),
    (b"/sources/%ff%fe%00.atom", 404),
    (b"/sources/__class__.atom", 404),
]

# Heads HTTP/1.1 does not allow: a 400, and the connection closed.
MALFORMED: list[tuple[str, bytes]] = [
    ("NUL in the target", b"GET /sources/aljazeera\x00.atom HTTP/1.1\r\nHost: x\r\n\r\n"),
    (
        "CRLF injected in the target",
        b"GET /sources/a\r\nX-Injected: yes\r\n.atom HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    ("raw UTF-8 in the target", "GET /sources/été.atom HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
    ("a space in the target", b"GET /sources/a b.atom HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/0.9", b"GET /../../etc/passwd\r\n\r\n"),
    ("no Host", b"GET /feed.atom HTTP/1.1\r\n\r\n"),
    ("two Hosts", b"GET /feed.atom HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("a negative length", b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("a TLS hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)),
]

OTHER_METHODS = (b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE", b"PROPFIND", b"OPTIONS")


def test_traversal_and_odd_names_get_a_plain_4xx(served: Served) -> None:
    for target, expected in HOSTILE_TARGETS:
        answer = exchange(served.port, request(target))
        assert_clean(served, answer, target[:80])
        assert answer.status == expected, (target[:80], answer.raw[:300])
        assert b"<feed" not in answer.body and b"[storage]" not in answer.body
        assert "x-injected" not in answer.headers
        assert len(answer.body) < 200, target[:80]  # a 404 names the name, and no more
    for what, data in MALFORMED:
        answer = exchange(served.port, data)
        assert_clean(served, answer, what)
        assert answer.status == 400, (what, answer.raw[:300])
        assert "x-injected" not in answer.headers
    for target in REAL_FEEDS:
        for method in OTHER_METHODS:
            secret = b"X-Secret: s3cr3t-token\r\n"  # a TRACE must not echo the request
            answer = exchange(served.port, request(target, method, secret))
            assert_clean(served, answer, (method, target))
            assert answer.status == 405 and answer.headers["allow"] in ("GET, HEAD", "HEAD, GET")
            assert b"s3cr3t" not in answer.raw
    for data in (b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", request(b"*")):
        answer = exchange(served.port, data)
        assert_clean(served, answer, data)
        assert answer.status == 404
    answer = exchange(served.port, request(b"127.0.0.1:22", b"CONNECT"))
    assert_clean(served, answer, "CONNECT")
    assert answer.status == 404

    # The real names still give their feeds, however they are spelt or queried.
    for target in (
        *REAL_FEEDS,
        b"/sources/aljazeera%2eatom",
        b"/sources/%61ljazeera.atom",
        b"/sources/aljazeera.atom?name=../../etc/passwd",
        b"/feed.atom?%00",
    ):
        answer = exchange(served.port, request(target, headers=b"Accept-Encoding: identity\r\n"))
        assert answer.status == 200, (target, answer.raw[:300])
        assert answer.body.startswith(b"<?xml") and b"<feed" in answer.body
        assert not any(place in answer.raw for place in served.places()), target
    for target in (b"/", b"/healthz", b"/metrics"):
        answer = exchange(served.port, request(target))
        assert answer.status == 200 and not any(p in answer.raw for p in served.places())
    served.check_log()


# --- 1b. very long request lines and headers --------------------------------------

KB = 1024


def long_target(size: int) -> bytes:
    """A /sources/<name>.atom target of exactly `size` bytes."""
    return b"/sources/" + b"a" * (size - len(b"/sources/.atom")) + b".atom"


def header_lines(count: int) -> bytes:
    return b"".join(b"a: b\r\n" for _ in range(count))


def big_header(size: int) -> bytes:
    return b"X-Big: " + b"v" * size + b"\r\n"


# (what, request, statuses allowed; None is "closed without an answer").
# Up to the app's limits (`web.MAX_TARGET`, `web.MAX_HEADERS`, `web.MAX_HEADER_BYTES`)
# a head is served; over them, and within what the server buffers for a head
# still arriving (`webserver.MAX_INCOMPLETE_HEAD`), it is always exactly 414 or
# 431; bigger still, it is 414/431 when it arrived in one read and otherwise a
# 400 and a closed connection (perhaps reset before the 400 is read).
BIG = {414, 431, 400, None}
LONG_HEADS: list[tuple[str, bytes, set[int | None]]] = [
    ("an 8 KiB target, the most allowed", request(long_target(web.MAX_TARGET)), {404}),
    ("an 8 KiB + 1 target", request(long_target(web.MAX_TARGET + 1)), {414}),
    ("a 24 KiB target", request(long_target(24 * KB)), {414}),
    ("a 64 KiB target", request(long_target(64 * KB)), {414, 400, None}),
    ("a 1 MiB target", request(long_target(1024 * KB)), {414, 400, None}),
    ("an 8 KiB query string", request(b"/feed.atom?" + b"q" * 8 * KB), {414}),
    ("an 8 KiB header value", request(b"/feed.atom", headers=big_header(8 * KB)), {200}),
    ("a 20 KiB header value", request(b"/feed.atom", headers=big_header(20 * KB)), {431}),
    ("a 64 KiB header value", request(b"/feed.atom", headers=big_header(64 * KB)), BIG),
    ("a 1 MiB header value", request(b"/feed.atom", headers=big_header(1024 * KB)), BIG),
    ("100 headers, the most allowed", request(b"/feed.atom", headers=header_lines(98)), {200}),
    ("101 headers", request(b"/feed.atom", headers=header_lines(99)), {431}),
    ("1000 headers", request(b"/feed.atom", headers=header_lines(1000)), {431}),
    ("100000 headers", request(b"/feed.atom", headers=header_lines(100_000)), BIG),
    (
        "a 1 MiB header line without its end",
        b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 1024 * KB,
        {400, None},
    ),
    (
        "a 1 MiB body to a POST",
        request(b"/feed.atom", b"POST", b"Content-Length: 1048576\r\n") + bytes(1024 * KB),
        {405, None},
    ),
]


def test_very_long_request_lines_and_headers_get_a_4xx_or_a_close(served: Served) -> None:
    for what, data, allowed in LONG_HEADS:
        answer = exchange(served.port, data)
        assert_clean(served, answer, what)
        assert answer.status in allowed, (what, answer.status, answer.raw[:300])
        if answer.status in (414, 431):
            assert answer.headers["connection"] == "close"
        print(f"{what}: {answer.status or 'closed'} in {answer.seconds * 1000:.0f} ms")
        assert_serving(served)
    served.check_log()


def test_server_limits_are_explicit() -> None:
    """The limits the two tests above rely on are set, and fit together."""
    config = webserver.server(object()).config
    assert config.http is webserver.HeadTimeoutProtocol and config.ws == "none"
    assert config.h11_max_incomplete_event_size == webserver.MAX_INCOMPLETE_HEAD
    # Every head the app accepts fits in what the server buffers while it arrives.
    assert webserver.MAX_INCOMPLETE_HEAD > web.MAX_TARGET + web.MAX_HEADER_BYTES + KB
    assert config.timeout_keep_alive == webserver.KEEP_ALIVE_TIMEOUT
    assert config.limit_concurrency == webserver.MAX_CONNECTIONS


# --- 1c. many concurrent clients, memory flat -------------------------------------

CLIENTS = 50
ROUND_REQUESTS = 3000
MEASURED_ROUNDS = 3
# Growth allowed from the end of the first measured round to the end of the
# last (6000 requests): the server settles within 0.5 MB here, and a leak of
# even 1 kB a request (one kept request object, one timer) would add 6 MB.
RSS_GROWTH_MB = 5.0


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix, and what its answer must be."""

    name: str
    method: bytes
    target: bytes
    headers: bytes
    status: int
    body_prefix: bytes = b""


def request_mix(served: Served) -> list[Kind]:
    plain = exchange(served.port, request(b"/feed.atom", headers=b"Accept-Encoding: identity\r\n"))
    zipped = exchange(served.port, request(b"/feed.atom", headers=b"Accept-Encoding: gzip\r\n"))
    etag, gzip_etag = plain.headers["etag"], zipped.headers["etag"]
    modified = plain.headers["last-modified"]
    assert zipped.headers["content-encoding"] == "gzip" and etag != gzip_etag
    identity, gzip = b"Accept-Encoding: identity\r\n", b"Accept-Encoding: gzip\r\n"
    matching = f"If-None-Match: {etag}\r\n".encode()
    gzip_matching = f"If-None-Match: {gzip_etag}\r\n".encode()
    since = f"If-Modified-Since: {modified}\r\n".encode()
    return [
        Kind("feed", b"GET", b"/feed.atom", identity, 200, b"<?xml"),
        Kind("feed gzip", b"GET", b"/feed.atom", gzip, 200, b"\x1f\x8b"),
        Kind("feed 304", b"GET", b"/feed.atom", identity + matching, 304),
        Kind("feed gzip 304", b"GET", b"/feed.atom", gzip + gzip_matching, 304),
        Kind("feed since", b"GET", b"/feed.atom", identity + since, 304),
        Kind("feed HEAD", b"HEAD", b"/feed.atom", b"", 200),
        Kind("source", b"GET", b"/sources/aljazeera.atom", identity, 200, b"<?xml"),
        Kind("source gzip", b"GET", b"/sources/dailyknight.atom", gzip, 200, b"\x1f\x8b"),
        Kind("unknown", b"GET", b"/sources/nope.atom", b"", 404, b"no source named"),
        Kind("traversal", b"GET", b"/sources/..%2f..%2fetc%2fpasswd.atom", b"", 404, b"Not Found"),
        Kind("healthz", b"GET", b"/healthz", b"", 200, b"{"),
        Kind("metrics", b"GET", b"/metrics", b"", 200, b"# HELP"),
        Kind("index, closing", b"GET", b"/", b"Connection: close\r\n", 200, b"<!doctype html>"),
        Kind("POST", b"POST", b"/feed.atom", b"Content-Length: 0\r\n", 405),
        Kind("9 KiB name", b"GET", long_target(9 * KB), b"", 414),
    ]


@dataclass
class Round:
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)  # kind names answered unexpectedly
    errors: Counter[str] = field(default_factory=Counter)  # connection errors, by type
    connections: int = 0


async def _read_answer(reader: asyncio.StreamReader, method: bytes) -> tuple[int, bytes, bool]:
    """(status, body, whether the server will close) of one keep-alive response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in lines[1:] if line)
    )
    assert b"transfer-encoding" not in headers  # every answer here has a length
    length = 0 if method == b"HEAD" or status == 304 else int(headers[b"content-length"])
    body = await reader.readexactly(length)
    return status, body, headers.get(b"connection", b"").lower() == b"close"


async def _load_round(port: int, mix: list[Kind], total: int) -> Round:
    """`total` requests of the mix from CLIENTS concurrent keep-alive clients."""
    result = Round(0.0)
    numbers = iter(range(total))

    async def client(index: int) -> None:
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for number in numbers:
            kind = mix[(number * 7 + index) % len(mix)]
            try:
                if streams is None:
                    streams = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port), SOCKET_TIMEOUT
                    )
                    result.connections += 1
                reader, writer = streams
                writer.write(
                    kind.method + b" " + kind.target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + kind.headers + b"\r\n"
                )  # fmt: skip
                status, body, closing = await asyncio.wait_for(
                    _read_answer(reader, kind.method), SOCKET_TIMEOUT
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                if streams is not None:
                    streams[1].close()
                streams = None
                continue
            result.statuses[status] += 1
            if status != kind.status or not body.startswith(kind.body_prefix):
                result.wrong[kind.name] += 1
            if closing:
                writer.close()
                streams = None
        if streams is not None:
            streams[1].close()

    started = time.monotonic()
    await asyncio.gather(*(client(index) for index in range(CLIENTS)))
    result.seconds = time.monotonic() - started
    return result


def test_many_concurrent_clients_no_errors_and_flat_memory(served: Served) -> None:
    mix = request_mix(served)
    rounds: list[Round] = []
    rss: list[float] = [served.rss_mb()]
    print(f"\nserver pid {served.process.pid}: RSS at start {rss[0]:.1f} MB")
    for index in range(1 + MEASURED_ROUNDS):
        done = asyncio.run(_load_round(served.port, mix, ROUND_REQUESTS))
        rounds.append(done)
        rss.append(served.rss_mb())
        label = "warm-up" if index == 0 else f"round {index}"
        print(
            f"{label}: {ROUND_REQUESTS} requests from {CLIENTS} clients in {done.seconds:.1f} s"
            f" ({ROUND_REQUESTS / done.seconds:.0f}/s, {done.connections} connections),"
            f" statuses {dict(sorted(done.statuses.items()))},"
            f" errors {dict(done.errors) or 0}; RSS {rss[-1]:.1f} MB"
        )
    for done in rounds:
        assert done.errors == Counter(), done.errors
        assert done.wrong == Counter(), done.wrong
        assert sum(done.statuses.values()) == ROUND_REQUESTS
        assert not any(status >= 500 for status in done.statuses)
    growth = rss[-1] - rss[2]  # from after the first measured round to after the last
    print(f"RSS growth over the last {MEASURED_ROUNDS - 1} rounds: {growth:+.1f} MB")
    assert growth < RSS_GROWTH_MB, rss
    assert_serving(served)
    served.check_log()


# --- slow and idle clients --------------------------------------------------------


async def _closed_after(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float, drip: bytes = b""
) -> float:
    """Seconds from `started` until the server closes the connection; meanwhile
    send `drip` one byte every half second."""

    async def dripping() -> None:
        try:
            for byte in drip:
                await asyncio.sleep(0.5)
                writer.write(bytes([byte]))
                await writer.drain()
        except ConnectionError:
            pass  # the server closed it: what the reader below waits for

    sender = asyncio.create_task(dripping())
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        sender.cancel()
        writer.close()
    return time.monotonic() - started


async def _slow_clients(port: int) -> dict[str, list[float]]:
    head = b"GET /feed.atom HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"p" * 40 + b"\r\n\r\n"
    waits: dict[str, list[asyncio.Task[float]]] = {}
    started = time.monotonic()

    async def connect(what: str, first: bytes = b"", drip: bytes = b"") -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(first)
        task = asyncio.create_task(_closed_after(reader, writer, started, drip))
        waits.setdefault(what, []).append(task)

    for _ in range(200):
        await connect("idle")
    for _ in range(20):
        await connect("half a head", head[:30])
    for _ in range(10):
        await connect("a byte every 0.5 s", drip=head)  # a whole head would take 40 s
    for _ in range(5):
        await connect("kept alive, then idle", head)
    for _ in range(5):
        await connect("kept alive, then dripping", head, drip=head)

    # Meanwhile everyone else is served at once.
    for _ in range(10):
        before = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request(b"/feed.atom"))
        answer = await asyncio.wait_for(reader.read(), SOCKET_TIMEOUT)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert time.monotonic() - before < 2.0

    limit = webserver.HEAD_TIMEOUT + SOCKET_TIMEOUT
    return {
        what: list(await asyncio.wait_for(asyncio.gather(*tasks), limit))
        for what, tasks in waits.items()
    }


def test_idle_and_slow_clients_are_cut_off_without_slowing_others(served: Served) -> None:
    closed = asyncio.run(_slow_clients(served.port))
    for what, seconds in closed.items():
        print(f"{len(seconds)} x {what}: closed after {min(seconds):.1f}–{max(seconds):.1f} s")
    head_deadline = webserver.HEAD_TIMEOUT
    for what in ("idle", "half a head", "a byte every 0.5 s", "kept alive, then dripping"):
        assert all(head_deadline - 0.5 < s < head_deadline + 3 for s in closed[what]), what
    keep_alive = webserver.KEEP_ALIVE_TIMEOUT
    assert all(keep_alive - 0.5 < s < keep_alive + 3 for s in closed["kept alive, then idle"])
    assert_serving(served)
    served.check_log()


# --- 1d. errors never leak --------------------------------------------------------


def test_error_text_is_cut_to_one_line_without_locations() -> None:
    cases = {
        "error: StoreUnavailable: database sqlite:////srv/agg/agg.db unavailable: no such table":
            "error: StoreUnavailable: database <database> unavailable: no such table",
        "error: StoreUnavailable: database postgresql+psycopg://agg:***@db:5432/agg unavailable:"
        " connection refused":
            "error: StoreUnavailable: database <database> unavailable: connection refused",
        "error: DatabaseError: (sqlite3.DatabaseError) database disk image is malformed\n"
        "[SQL: SELECT log_head.position FROM log_head]\n[parameters: (1,)]":
            "error: DatabaseError: (sqlite3.DatabaseError) database disk image is malformed",
        "error: PermissionError: [Errno 13] Permission denied: '/var/lib/agg/feeds/feed.atom'":
            "error: PermissionError: [Errno 13] Permission denied: '<path>'",
        "error: OSError: cannot write /work/main/feeds (see https://example.org/a/b)":
            "error: OSError: cannot write <path> (see https://example.org/a/b)",
        "2020-09-27T08:38:00Z": "2020-09-27T08:38:00Z",
        "ok": "ok",
    }  # fmt: skip
    for text, shown in cases.items():
        assert web.public_text(text) == shown


def _json(answer: Answer) -> dict[str, object]:
    body = json.loads(answer.body)
    assert isinstance(body, dict)
    return body


def test_a_broken_database_is_reported_without_paths_or_tracebacks(
    project: Project, tmp_path: Path
) -> None:
    collected = cli(project.config, "collect")
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    process = start_service(project.config, "serve", port, tmp_path)
    served = Served(process, port, project.root, project.config, project.database)
    try:
        feed = exchange(port, request(b"/feed.atom"))
        assert feed.status == 200

        # 1. The store stops answering (a table gone): the last edition is
        # still served, and health says the store is down, without its URL.
        with closing(sqlite3.connect(project.database)) as db:
            db.execute("ALTER TABLE log_head RENAME TO log_head_away")

        def down() -> Answer | None:
            answer = exchange(port, request(b"/healthz"))
            return answer if answer.status == 503 else None

        health = wait_for(down, 10, "/healthz to report the store down")
        assert_no_leak(served, health, "/healthz, store down")
        store = _json(health)["store"]
        assert store == (
            "error: StoreUnavailable: database <database> unavailable: no such table: log_head"
        ), store
        print(f"/healthz with the store down: {health.body.decode()}")
        answer = exchange(port, request(b"/feed.atom"))
        assert answer.status == 200 and answer.body == feed.body
        assert exchange(port, request(b"/sources/aljazeera.atom")).status == 200
        metrics = exchange(port, request(b"/metrics"))
        assert metrics.status == 200 and b"\naggregator_store_up 0.0\n" in metrics.body
        with closing(sqlite3.connect(project.database)) as db:
            db.execute("ALTER TABLE log_head_away RENAME TO log_head")
        wait_for(
            lambda: True if exchange(port, request(b"/healthz")).status == 200 else None,
            10,
            "/healthz to recover",
        )
        served.check_log()

        # 2. The database file is destroyed. Whatever each read then meets
        # (pages still in the WAL, "no such table", a malformed image), the
        # store counts as unavailable: the feeds stay the last edition, no
        # answer is a 5xx but /healthz's 503, and none carries a traceback,
        # a path or SQL.
        os.truncate(project.database, 0)
        seen: dict[bytes, Counter[int]] = {}
        for _ in range(5):
            time.sleep(1.1)  # past the publisher's refresh throttle (min_refresh)
            for target in (*REAL_FEEDS, b"/healthz", b"/metrics", b"/", b"/sources/nope.atom"):
                answer = exchange(port, request(target))
                assert_no_leak(served, answer, target)
                assert answer.status is not None, target
                seen.setdefault(target, Counter())[answer.status] += 1
                if target == b"/healthz":
                    assert answer.status in (200, 503)
                    store = _json(answer)["store"]
                    assert isinstance(store, str) and "\n" not in store, store
                else:
                    assert answer.status < 500, (target, answer.raw[:300])
                if target == b"/feed.atom":
                    assert answer.body == feed.body
        for target, statuses in seen.items():
            print(f"{target.decode()} with the database destroyed: {dict(statuses)}")
        assert set(seen[b"/"]) == {200}
        process.check_alive()
    finally:
        process.kill()
