"""`aggregator run` and `aggregator serve`: one foreground process, one event loop.

`run` is the poll engine and its scheduler plus the web server; `serve` is
the web server alone over a log that something else appends to. Both build
the same parts (the publisher that keeps feed documents in step with the
log, the follower runner, the metrics, the health report) and differ only
in whether a `PollEngine` and a `PollScheduler` are attached.

Everything runs on one asyncio event loop: uvicorn's under `run` and
`serve`, one of our own under `run --collector-only`. `start` and `stop`
are the lifecycle both use: the scheduler starts once the server is
listening and is stopped (polls finished or cancelled, see `engine.scheduler`),
then the runner's last run publishes what the last polls appended, before
the process exits on SIGINT or SIGTERM (see `web.server.serve`). SIGHUP
re-reads the config file (`Service.reload`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette

from aggregator.cli import logs
from aggregator.cli.context import Context
from aggregator.cli.database import configured_store
from aggregator.config import Settings, load_settings
from aggregator.config.shard import Shard
from aggregator.core.errors import ConfigError
from aggregator.core.events import format_time
from aggregator.engine.metrics import Metrics
from aggregator.engine.polls import PollEngine
from aggregator.engine.scheduler import PollScheduler
from aggregator.engine.status import source_statuses
from aggregator.follow.runner import Projection, Publication, Runner, Stories
from aggregator.publish.live import Publisher
from aggregator.publish.websub import HubNotifier
from aggregator.store.sql import SqlStore
from aggregator.web.app import create_app
from aggregator.web.server import address, bind, serve

logger = logging.getLogger("aggregator.service")


@dataclass
class Service:
    settings: Settings
    store: SqlStore
    publisher: Publisher
    metrics: Metrics
    runner: Runner
    scheduler: PollScheduler | None
    shard: Shard | None = None
    notifier: HubNotifier | None = None
    _following: asyncio.Task[None] | None = None

    @classmethod
    def build(
        cls, settings: Settings, store: SqlStore, poll: bool, shard: Shard | None = None
    ) -> Service:
        log, model = store.log, store.read_model
        metrics = Metrics(settings, log, model, store.clock)
        # Always there, idle until a hub is configured (a reload may add one).
        notifier = HubNotifier(on_result=metrics.record_hub_ping)
        publisher = Publisher(
            settings, log, model, store.clock, on_render=metrics.record_render, notifier=notifier
        )
        finishing = threading.Event()
        runner = Runner(
            [
                Projection(log, model),
                Stories(log, model, interrupted=finishing.is_set),
                Publication(publisher.refresh, publisher.position),
            ],
            finishing,
        )
        scheduler = None
        if poll:
            engine = PollEngine(
                settings.service,
                log,
                model,
                store.clock,
                on_poll=metrics.record_poll,
                on_append=lambda summary: runner.wake(),
            )
            polled = shard.select(settings) if shard else settings
            scheduler = PollScheduler(polled, engine, model, store.clock)
            metrics.follow_schedule(scheduler.next_runs)
        return cls(settings, store, publisher, metrics, runner, scheduler, shard, notifier)

    async def start(self) -> None:
        """Publish what the log holds, start the runner, then start polling."""
        await asyncio.to_thread(self.publisher.refresh)
        self._following = asyncio.create_task(self.runner.serve())
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop(self) -> None:
        """Stop polling (see `PollScheduler.stop`), let the runner follow the last
        appends, then close the engine's client and the hub notifier."""
        if self.scheduler is not None:
            await self.scheduler.stop()
            await self.scheduler.engine.aclose()
        if self._following is not None:
            self.runner.finish()
            await self._following
            self._following = None
        await asyncio.to_thread(self.publisher.close)
        if self.notifier is not None:
            await asyncio.to_thread(self.notifier.close)

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.start()
            reloads = _on_sighup(self.reload)
            yield
            if reloads:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await self.stop()

        return create_app(self.publisher, self.health, self.metrics.exposition, lifespan)

    def reload(self) -> bool:
        """Re-read the config file and follow it, or keep running as before.

        Sources and feed settings apply at once; storage, host, port, workers
        and per_host need a restart, and a reload that changes them says so.
        A config with an error is refused whole, naming the file and key.
        """
        try:
            settings = load_settings(self.settings.path)
        except ConfigError as exc:
            logger.error(
                "reload refused; the running configuration stays", extra={"error": str(exc)}
            )
            return False
        pending = [
            key
            for key, old, new in (
                ("storage.url", self.settings.database_url, settings.database_url),
                ("service.host", self.settings.service.host, settings.service.host),
                ("service.port", self.settings.service.port, settings.service.port),
                ("service.workers", self.settings.service.workers, settings.service.workers),
                ("service.fetches", self.settings.service.fetches, settings.service.fetches),
                ("service.per_host", self.settings.service.per_host, settings.service.per_host),
            )
            if old != new
        ]
        if pending:
            logger.warning(
                "some changes take effect only at the next start", extra={"keys": ",".join(pending)}
            )
        self.settings = settings
        self.metrics.reconfigure(settings)
        polled = self.shard.select(settings) if self.shard else settings
        changes = self.scheduler.reconfigure(polled) if self.scheduler is not None else {}
        self.publisher.reconfigure(settings)
        fields = {key: ",".join(names) for key, names in changes.items() if names}
        logger.info("configuration reloaded", extra={"sources": len(settings.sources), **fields})
        return True

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        """Healthy means: the store answers and, under `run`, the scheduler runs.

        A failing source does not make the service unhealthy (restarting would
        not mend a remote server); it shows in the per-source report.
        """
        scheduler = (
            "absent" if self.scheduler is None else
            "running" if self.scheduler.running else "stopped"
        )  # fmt: skip
        body: dict[str, Any] = {"scheduler": scheduler}
        try:
            body["log_head"] = self.store.log.head()
            body["projection_position"] = self.store.read_model.checkpoint()
            states = self.store.read_model.sources()
            body["followers"] = self.runner.positions()
        except Exception as exc:
            # Any store failure means unhealthy, and the report says which.
            body.update(status="unavailable", store=f"error: {type(exc).__name__}: {exc}"[:300])
            return False, body
        body["store"] = "ok"
        polls = self.scheduler
        statuses = source_statuses(
            self.settings,
            states,
            polls.next_runs() if polls is not None else {},
            polls.in_flight() if polls is not None else (),
        )
        sources = {
            status.name: {
                "last_poll": _time(status.last_poll),
                "last_outcome": status.outcome,
                # The failure's kind alone ("no-updates", "timeout", ...); the
                # message may name paths, so it stays in the log and `sources`.
                "last_error_kind": status.error_kind,
                "consecutive_failures": status.failures,
                "entries": status.entries,
                "next_poll": _time(status.next_poll),
                "polling": status.polling,
            }
            for status in statuses
        }
        body["sources"] = sources
        healthy = scheduler != "stopped"
        body["status"] = "ok" if healthy else "unavailable"
        return healthy, body


def _on_sighup(reload: Callable[[], bool]) -> bool:
    """Reload on SIGHUP, in a worker thread; False where signals cannot be had
    (not the main thread, as under a test server)."""
    loop = asyncio.get_running_loop()

    def requested() -> None:
        logger.info("SIGHUP: reloading the configuration")
        loop.run_in_executor(None, reload)

    try:
        loop.add_signal_handler(signal.SIGHUP, requested)
    except (RuntimeError, ValueError, NotImplementedError):
        return False
    return True


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def cmd_run(ctx: Context) -> int:
    """`run` and `serve`, in the foreground until SIGINT/SIGTERM."""
    args, settings = ctx.args, ctx.settings
    # The log lines' format first, before anything of the service can log.
    logs.configure(args.log_format, logging.DEBUG if args.debug else logging.INFO)
    store = configured_store(ctx)
    polling = args.command == "run"
    service = Service.build(settings, store, poll=polling, shard=args.shard if polling else None)
    if polling and args.collector_only:
        return run_collector(service)
    host = args.host or settings.service.host
    port = settings.service.port if args.port is None else args.port
    return run_foreground(service, host, port)


def run_foreground(service: Service, host: str, port: int) -> int:
    """Listen, print where to subscribe, serve until SIGINT/SIGTERM; exit 0 on a stop."""
    sock = bind(host, port)
    base = address(sock)
    print(f"serving {base}/feed.atom  (subscribe to this URL in a feed reader)", flush=True)
    mode = "polling and serving" if service.scheduler is not None else "serving only"
    logger.info(
        f"{mode}; Ctrl-C to stop",
        extra={"address": base, "sources": len(service.settings.sources)},
    )
    configured = service.settings.feed.base_url
    if configured.rstrip("/") != base:
        logger.warning(
            "feed.base_url differs from the listening address; feeds link to base_url",
            extra={"base_url": configured, "address": base},
        )
    stops = serve(service.app(), sock, log_level=logging.getLogger().level)
    logger.info("stopped", extra={"signal": ",".join(stops) or "none"})
    return 0


def run_collector(service: Service) -> int:
    """Poll without serving, in the foreground, until SIGINT/SIGTERM; SIGHUP reloads.

    For fleets: several collectors (each with its `--shard`) append to one
    shared log while `aggregator serve` processes elsewhere serve it.
    """
    return asyncio.run(_collect_until_stopped(service))


async def _collect_until_stopped(service: Service) -> int:
    scheduler = service.scheduler
    assert scheduler is not None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def stopping(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    reloads = _on_sighup(service.reload)
    try:
        await service.start()
        shard = f" (shard {service.shard.index}/{service.shard.count})" if service.shard else ""
        polled = [source.name for source in scheduler.settings.sources]
        logger.info(
            f"collecting{shard}; Ctrl-C to stop", extra={"sources": ",".join(polled) or "none"}
        )
        await stop.wait()
        await service.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if reloads:
            loop.remove_signal_handler(signal.SIGHUP)
    logger.info("stopped", extra={"signal": ",".join(received)})
    return 0
