"""Figure 8 of issue 7: serving `/feed.atom`, beside nginx serving the same bytes.

A log is filled first: 5 generated RSS feeds of 20 items (read as files) are
collected with the real command, `aggregator collect`, so the merged feed has
100 entries. Then `aggregator serve` runs as its own process on a free port
of 127.0.0.1, and `wrk` (from Debian) asks it for `/feed.atom` for a bounded
time (`-t2 -c32 -d10s`; `-d1s` quick), plainly and with `If-None-Match`
carrying the ETag of a first GET (every answer a 304). The baseline is a
private nginx (one worker, `etag on`) serving the same bytes as a static
file, under the same wrk settings, with its own ETag for the conditional
run. Runs alternate between the two servers. wrk sends no Accept-Encoding,
so both send the identity bytes.

The issue sets no target here: the figure is the ratio to nginx.

    python -m bench.serving [--quick]
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.child import aggregator_command, clean_env
from bench.common import REPO, Figure, main, median
from bench.fanout import write_config, write_feeds
from bench.nginx import (
    Nginx,
    die_with_parent,
    free_port,
    require,
    spawn,
    stop_group,
    terminated_on_sigterm,
)

NAME = "serving"
REQUIRES = ("nginx", "wrk")
FIGURES = ("GET /feed.atom, 200", "GET /feed.atom, If-None-Match 304")
SOURCES, ITEMS = 5, 20  # 100 entries in the merged feed
THREADS, CONNECTIONS = 2, 32
FULL_SECONDS, QUICK_SECONDS = 10, 1
FULL_RUNS, QUICK_RUNS = 3, 1
STARTUP_TIMEOUT = 30.0


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    errors: int  # socket errors and answers other than 2xx/3xx
    latency: str  # wrk's average latency, as it prints it


def wrk(url: str, seconds: int, etag: str | None = None) -> WrkResult:
    """One bounded wrk run against `url` (on 127.0.0.1 only)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"benchmarks stay on 127.0.0.1, not {url}")
    args = [require("wrk")["wrk"], f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    args += ["--timeout", "5s"]
    if etag is not None:
        args += ["-H", f"If-None-Match: {etag}"]
    done = subprocess.run(
        [*args, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
        preexec_fn=die_with_parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    latency = re.search(r"Latency\s+(\S+)", output)
    return WrkResult(
        float(rate.group(1)), int(total.group(1)), errors, latency.group(1) if latency else "?"
    )


def fill_log(work: Path) -> Path:
    """Generated feeds collected into an SQLite log by `aggregator collect`; the config."""
    paths = write_feeds(work, SOURCES, ITEMS)
    config = write_config(work / "service", [(work / path).as_uri() for path in paths])
    done = subprocess.run(
        aggregator_command(config, "collect"),
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=REPO,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aggregator collect failed:\n{done.stdout}\n{done.stderr}")
    return config


@contextmanager
def aggregator_serve(config: Path, logs: Path) -> Iterator[str]:
    """`aggregator serve` on a free port of 127.0.0.1 for a `with` block; its base URL.

    Its process group is stopped on the way out, whatever happened."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (logs / "serve.stdout").open("wb") as out, (logs / "serve.stderr").open("wb") as err:
        process = spawn(
            aggregator_command(config, "serve", "--host", "127.0.0.1", "--port", str(port)),
            out,
            err,
            env=clean_env(),
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"aggregator serve exited ({process.returncode}):\n"
                    + (logs / "serve.stderr").read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"aggregator serve did not answer within {STARTUP_TIMEOUT}s")
            time.sleep(0.1)
        yield base
    finally:
        stop_group(process)


def validators(url: str) -> tuple[bytes, str]:
    """The identity body and ETag of `url`, checked to answer If-None-Match with 304."""
    response = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=10.0)
    response.raise_for_status()
    etag = response.headers["ETag"]
    again = httpx.get(
        url, headers={"Accept-Encoding": "identity", "If-None-Match": etag}, timeout=10.0
    )
    if again.status_code != 304:
        raise RuntimeError(f"{url} answered {again.status_code} to If-None-Match {etag}")
    return response.content, etag


def run(quick: bool) -> list[Figure]:
    require(*REQUIRES)
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    runs = QUICK_RUNS if quick else FULL_RUNS
    command = f"python -m bench.{NAME}" + (" --quick" if quick else "")
    results: dict[tuple[str, str], list[WrkResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as temp, terminated_on_sigterm():
        work = Path(temp)
        config = fill_log(work)
        static = work / "static"
        static.mkdir()
        with aggregator_serve(config, work) as base:
            ours = f"{base}/feed.atom"
            body, our_etag = validators(ours)
            entries = body.count(b"<entry>") + body.count(b"<entry ")
            (static / "feed.atom").write_bytes(body)
            with Nginx(static) as nginx:
                theirs = f"{nginx.base}/feed.atom"
                their_body, their_etag = validators(theirs)
                if their_body != body:
                    raise RuntimeError("nginx does not serve the aggregator's bytes")
                targets = {
                    "aggregator": (ours, our_etag),
                    "nginx": (theirs, their_etag),
                }
                for run_index in range(runs):
                    order = ["aggregator", "nginx"][:: 1 if run_index % 2 == 0 else -1]
                    for server in order:
                        url, etag = targets[server]
                        for kind, header in (("200", None), ("304", etag)):
                            results.setdefault((server, kind), []).append(wrk(url, seconds, header))
    for (server, kind), found in results.items():
        failed = sum(r.errors for r in found)
        if failed:
            raise RuntimeError(f"{server} {kind}: {failed} failed requests under wrk")

    def figure(name: str, kind: str) -> Figure:
        ours_rates = [r.requests_per_second for r in results[("aggregator", kind)]]
        nginx_rates = [r.requests_per_second for r in results[("nginx", kind)]]
        value, baseline = median(ours_rates), median(nginx_rates)
        latencies = [r.latency for r in results[("aggregator", kind)]]
        nginx_latencies = [r.latency for r in results[("nginx", kind)]]
        return Figure(
            benchmark=NAME,
            name=f"{name} ({entries} entries, {len(body) / 1024:.0f} kB)",
            value=value,
            unit="req/s",
            baseline_name="nginx static file",
            baseline=baseline,
            ratio=value / baseline,
            ratio_meaning="aggregator req/s / nginx req/s",
            target="none set by the issue; the ratio to nginx is reported",
            met=None,
            runs=runs,
            command=command,
            samples=ours_rates,
            notes=[
                f"baseline samples: {nginx_rates}",
                f"wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s on 127.0.0.1, no Accept-Encoding "
                "(identity bytes)"
                + (", If-None-Match: <ETag of a first GET>" if kind == "304" else ""),
                f"average latency: aggregator {latencies}, nginx {nginx_latencies}",
                "aggregator serve: one process (uvicorn, h11, Starlette); nginx: one worker; "
                "wrk shares the machine's cores with the server under test",
            ],
        )

    return [figure(FIGURES[0], "200"), figure(FIGURES[1], "304")]


if __name__ == "__main__":
    main(run, NAME)
