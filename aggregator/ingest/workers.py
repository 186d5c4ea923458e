"""Pages are extracted in worker processes, each page under a CPU-time budget.

A thread cannot be stopped, so an extraction that runs away (a page built to
be slow to read) held a poll's thread for as long as it liked, and one still
under way when the service was told to stop appended after the stop. A
process can be stopped, so extraction runs in one:

- `ExtractPool(size, budget)` keeps up to `size` worker processes, started
  on first use and then reused for every page (a page costs a round trip
  over a pipe, not a process). They come from a forkserver that preloaded
  the extractors: forking the threaded service itself could copy a lock
  held by another thread, and spawning a fresh interpreter per worker
  imports everything again.
- A worker arms `ITIMER_PROF` (the process's CPU time, user and system) to
  the budget before each page and disarms it after. SIGPROF's default action
  ends the process, so the budget holds even inside C code (libxml2, a
  regex), where no Python handler would run: the pool sees the worker die,
  raises `ExtractionOverBudget` (the poll fails like any other, and backs
  off) and starts another worker for the next page.
- `close()` kills every worker, busy or idle: an extraction under way, or
  asked for afterwards, raises `PollAbandoned`, so the poll records nothing.

As with any multiprocessing start method but fork, a worker imports the
main script again (as `__mp_main__`): a script that reads pages must keep
its work under `if __name__ == "__main__":`, as the console scripts do.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from aggregator.config import ServiceConfig
from aggregator.core.errors import (
    ExtractError,
    ExtractionOverBudget,
    ExtractorCrashed,
    PollAbandoned,
)
from aggregator.core.model import ExtractContext, Format, Page
from aggregator.ingest.extract import extract

logger = logging.getLogger("aggregator.collect")

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["aggregator.ingest.extract"])

Reader = Callable[[bytes, ExtractContext, Format], Page]
_Job = tuple[bytes, ExtractContext, Format, float]
# What a worker sends back: the page, the ExtractError it raised, or a crash
# as text (not every exception pickles) with its traceback; and the CPU
# seconds the page cost.
_Outcome = tuple[Page | ExtractError | str, str, float]


def _serve(connection: Connection, read: Reader) -> None:
    """A worker's life: read a job with `read` under the budget, answer; until EOF."""
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    # Ctrl-C and a hangup sent to the whole process group are for the parent
    # to handle. SIGTERM still ends a worker (multiprocessing stops its
    # children with it at exit); the pool takes that as a stop, not a crash.
    for ignored in (signal.SIGINT, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    while True:
        try:
            body, context, fmt, budget = connection.recv()
        except (EOFError, OSError):  # the pool closed its end, or its process died
            return
        signal.setitimer(signal.ITIMER_PROF, budget)
        started = time.process_time()
        value: Page | ExtractError | str
        trace = ""
        try:
            value = read(body, context, fmt)
        except ExtractError as exc:
            value = exc
        except Exception as exc:
            value, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        spent = time.process_time() - started
        try:
            connection.send((value, trace, spent))
        except OSError:  # no one is listening: the pool's process died mid-page
            return
        except Exception as exc:  # the page itself would not pickle: a bug, said as one
            connection.send((f"{type(exc).__name__}: {exc}", traceback.format_exc(), spent))


class _WorkerTraceback(Exception):
    """A crash in a worker, told by the traceback the worker formatted."""

    def __str__(self) -> str:
        return f"in the extraction worker:\n{self.args[0].rstrip()}"


class _Worker:
    def __init__(self, read: Reader) -> None:
        self.connection, theirs = _CONTEXT.Pipe()
        self.process: BaseProcess = _CONTEXT.Process(
            target=_serve, args=(theirs, read), name="extract", daemon=True
        )
        self.process.start()
        theirs.close()  # ours closed, a dead worker's end reads as EOF
        self._killing = threading.Lock()
        self._killed = False

    def run(self, job: _Job) -> _Outcome:
        self.connection.send(job)
        outcome: _Outcome = self.connection.recv()
        return outcome

    def kill(self) -> None:
        """Stop it; safe to call twice at once (`close` and the thread that
        was using it both do, when the pool closes mid-page)."""
        with self._killing:
            if self._killed:
                return
            self._killed = True
            self.process.kill()
            self.process.join()
            self.connection.close()


class ExtractPool:
    """Up to `size` extraction workers, each page under `budget` CPU seconds (see above)."""

    def __init__(self, size: int, budget: float) -> None:
        self.budget = budget
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        self._spent = threading.local()  # CPU seconds of this thread's pages, for `spent`

    @classmethod
    def for_service(cls, service: ServiceConfig) -> ExtractPool:
        """One worker per thread that reads pages (`workers`), but no more than
        the machine has cores, under the service's `extract_budget`.

        Reading a page is all CPU: a worker beyond the cores would only take
        turns with the others on them, and each costs its own memory (about
        60 MB resident here, most of it the extractors' libraries)."""
        size = min(service.workers, os.cpu_count() or 1)
        return cls(size, service.extract_budget.total_seconds())

    def extract(self, body: bytes, context: ExtractContext, fmt: Format) -> Page:
        """`extract.extract` in a worker; raises what it raises, or the pool's own errors."""
        with self._slots:
            worker = self._take()
            try:
                value, trace, spent = worker.run((body, context, fmt, self.budget))
            except (EOFError, OSError):
                self._lost(worker)
                raise self._death(worker) from None
            self._give_back(worker)
        self._spent.seconds = getattr(self._spent, "seconds", 0.0) + spent
        if isinstance(value, Page):
            return value
        if isinstance(value, ExtractError):
            raise value
        remote = _WorkerTraceback(trace)
        logger.error("extracting %s raised", context.source, exc_info=(type(remote), remote, None))
        raise ExtractorCrashed(f"internal error: {value}"[:500]) from remote

    def spent(self) -> float:
        """The CPU seconds the pages this thread had read cost since it last asked
        (the worker's time, which the asking thread's own clock does not see)."""
        seconds: float = getattr(self._spent, "seconds", 0.0)
        self._spent.seconds = 0.0
        return seconds

    def close(self) -> None:
        """Kill every worker; an extraction under way or asked for later raises `PollAbandoned`."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
        for worker in workers:
            worker.kill()

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise PollAbandoned("the extraction workers were stopped")
            # `extract` is looked up as a worker starts: a test may put a
            # module-level stand-in there, which the worker imports by name.
            worker = self._idle.pop() if self._idle else _Worker(extract)
            self._busy.add(worker)
            return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)

    def _lost(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()

    def _death(self, worker: _Worker) -> Exception:
        """Why a worker died mid-page: stopped (by `close` or SIGTERM), out of
        budget, or a crash."""
        code = worker.process.exitcode
        if self._closed or code == -signal.SIGTERM:
            return PollAbandoned("the extraction was stopped with the workers")
        if code == -signal.SIGPROF:
            return ExtractionOverBudget(
                f"extraction ran past its budget of {self.budget:g} s of CPU time; it was stopped"
            )
        return ExtractorCrashed(f"internal error: the extraction worker died (exit code {code})")


# What reads a page when no engine hands its own pool (`aggregator try`, a
# lone `poll_source`): one worker, the default budget, started on first use.
SHARED = ExtractPool.for_service(ServiceConfig())
