"""Run a harvest: fetch → prepare → store for a stream of work items, concurrently, with progress.

Each item is independent: whatever goes wrong with one (network, bad XML, image bomb, wrong md5) is
recorded as a `harvest_items` row with a clear reason and the run goes on. An item is one input; a
file holding several articles gives one row per article (`<item>#<n>`), each under its own identity.
Outcomes (`STATUSES`): ok, partial (stored, but an image or part of the text could not be kept),
replaced (stored over a lower-ranked copy of the same identity), skipped (already stored, licence
excluded), conflict (a higher-ranked copy of the same identity is stored; this input is not), failed. Each article is written in
its own transaction together with its item row, so a run killed at any point leaves no half article,
and running it again skips what is stored (same version and checksums).

The same `process` runs on this process's threads (`run`), on a local process pool or on Celery
workers (workers/). There, no process sees the whole run: with `live_counts` each item's transaction
also adds it to the run's counters. A distributor that may deliver an item twice (Celery) first
writes the item's row as `queued` and gives its id with the item (`WorkItem.record_id`): the item's
transaction locks that row and turns it into the outcome, or, finding an outcome there already,
leaves it alone, so an item is recorded once however often it is delivered.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from figmine.disk_full import DiskFull
from harvester.licenses import license_allowed
from harvester.records import ArticleBundle, SourceError
from pipeline.prepare import Preparer
from store.articles import store_article
from store.models import HarvestItem, HarvestRun
from store.runs import STORED, run_counts

log = logging.getLogger(__name__)

Fetch = Callable[[Path], ArticleBundle]
QUEUED = "queued"  # an item row written before its item was sent to a worker
# every outcome an item row can end with (store.runs.STATUSES); `done` of a run counts the stored ones,
# `skipped` also the conflicts
# a run's counter columns each outcome adds to (live counts)
_COUNTERS = {"ok": ("done",), "partial": ("done", "partial"), "replaced": ("done", "replaced"),
             "skipped": ("skipped",), "conflict": ("skipped", "conflict"), "failed": ("failed",)}
MAX_REASON = 4000


class SkipItem(Exception):
    """Raised by a fetch that finds nothing to do (already stored, licence excluded): a skipped record."""


def describe_error(exc: BaseException) -> str:
    """One line for an item's reason: a database error without its SQL statement and parameters
    (they would show a whole INSERT to whoever reads the run's errors), anything else as it says."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    message = " ".join(str(exc).split("\n", 1)[0].split())
    return f"{type(exc).__name__}: {message}"[:500]


@dataclass
class WorkItem:
    """One thing to harvest: a name for the records and a way to fetch it into a work folder, and the
    id of its `queued` harvest_items row when a distributor wrote one."""

    name: str
    fetch: Fetch
    record_id: int | None = None


@dataclass
class ItemOutcome:
    name: str
    status: str  # one of STATUSES
    reason: str | None = None
    n_figures: int = 0
    article_ids: list[int] = field(default_factory=list)
    origin: str | None = None
    other_origin: str | None = None  # replaced / conflict: the other copy


@dataclass
class RunSummary:
    run_id: int
    ok: int = 0
    partial: int = 0
    replaced: int = 0
    skipped: int = 0
    conflict: int = 0
    failed: int = 0
    figures: int = 0  # figures of the articles this run stored (while it runs: as each was stored)
    articles: int | None = None  # distinct articles it stored, counted from the store when it ends
    seconds: float = 0.0
    failures: list[ItemOutcome] = field(default_factory=list)  # failed and partial items, and conflicts
    status: str = "running"

    @property
    def done(self) -> int:
        return self.ok + self.partial + self.replaced

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.conflict + self.failed

    @property
    def exit_code(self) -> int:
        """The command's exit status: `EXIT_CODES` (cron and CI see partial and failed runs)."""
        if self.status in ("failed", "interrupted"):
            return EXIT_CODES["run failed"]
        if self.failed:
            return EXIT_CODES["failed"]
        if self.partial:
            return EXIT_CODES["partial"]
        return EXIT_CODES["ok"]

    def add(self, outcome: ItemOutcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.figures += outcome.n_figures
        if outcome.status in ("failed", "partial", "conflict"):
            self.failures.append(outcome)


# exit statuses of `figmine ingest` / `figmine harvest` (documented in the README); 2 is click's usage error
EXIT_CODES = {"ok": 0, "run failed": 1, "partial": 3, "failed": 4}


class HarvestRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        preparer: Preparer,
        *,
        license_filter: str = "any",
        concurrency: int = 4,
        workdir: Path | None = None,
        live_counts: bool = False,
    ):
        license_allowed(None, license_filter)  # validates the filter name early
        self.sessions = sessions
        self.preparer = preparer
        self.license_filter = license_filter
        self.concurrency = max(1, concurrency)
        self.workdir = workdir
        self.live_counts = live_counts

    @classmethod
    def from_settings(cls, settings, sessions: sessionmaker[Session], *, license_filter: str = "any",
                      concurrency: int | None = None, live_counts: bool = False) -> "HarvestRunner":
        """The runner the CLI, the API and the workers use: the configured blob store and image limit."""
        from store.blobs import open_blob_store

        preparer = Preparer(open_blob_store(settings.blob_location), max_image_pixels=settings.max_image_pixels)
        return cls(sessions, preparer, license_filter=license_filter, concurrency=concurrency or settings.concurrency,
                   live_counts=live_counts)

    # -- one item -----------------------------------------------------------------------------
    def process_group(self, run_id: int, items: list[WorkItem]) -> list[ItemOutcome]:
        """A group of items (one task), `concurrency` at a time on this process's threads."""
        if len(items) <= 1 or self.concurrency == 1:
            results = [self.process(run_id, item) for item in items]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(items)), thread_name_prefix="figmine-group") as pool:
                results = list(pool.map(lambda item: self.process(run_id, item), items))
        return [outcome for result in results for outcome in result]

    def process(self, run_id: int, item: WorkItem) -> list[ItemOutcome]:
        """Fetch, prepare and store one item: one outcome per article it holds (one if it failed)."""
        if item.record_id is not None:
            recorded = self._recorded(item)
            if recorded is not None:  # delivered again: nothing to fetch
                return [recorded]
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix="figmine-", dir=self.workdir))
        bundle: ArticleBundle | None = None
        try:
            bundle = item.fetch(tmp)
            if bundle.license_code is not None and not license_allowed(bundle.license_code, self.license_filter):
                return [self._record(run_id, item, "skipped", f"licence {bundle.license_code} excluded", bundle,
                                     started)]
            prepared_articles = self.preparer.prepare(bundle)
            if not prepared_articles:
                return [self._record(run_id, item, "failed", "no <article> in the XML", bundle, started)]
            outcomes: list[ItemOutcome] = []
            first = True  # the first article written takes the item's queued row
            for index, prepared in enumerate(prepared_articles):
                name = item.name if len(prepared_articles) == 1 else f"{item.name}#{index + 1}"
                outcome = self._store(run_id, item, name, prepared, first, started)
                first = False
                if outcome is not None:
                    outcomes.append(outcome)
            return outcomes
        except SourceError as exc:
            return [self._record(run_id, item, "failed", str(exc), bundle, started)]
        except SkipItem as exc:
            return [self._record(run_id, item, "skipped", str(exc), bundle, started)]
        except DiskFull:
            raise  # not this article's fault, and every article after it would fail the same: the run stops
        except Exception as exc:  # noqa: BLE001 - one bad article never stops the run
            log.debug("item %s failed:\n%s", item.name, traceback.format_exc())
            return [self._record(run_id, item, "failed", describe_error(exc), bundle, started)]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _store(self, run_id: int, item: WorkItem, name: str, prepared, first: bool,
               started: float) -> ItemOutcome | None:
        """One article of an item in its own transaction with its item row; None when another
        delivery of the item recorded it meanwhile. An article that cannot be stored is recorded as
        failed under its own name: the other articles of its file go on."""
        bundle = prepared.bundle
        row = dict(item=name, article_key=prepared.key, origin=bundle.origin, source=bundle.source)
        stored = None
        try:
            with self.sessions.begin() as session:
                if not self._claim(session, run_id, item, name, first=first):
                    return None
                if license_allowed(prepared.license_code, self.license_filter):
                    stored = store_article(session, prepared)
                    status, reasons = _judge(stored, prepared)
                else:
                    status, reasons = "skipped", [f"licence {prepared.license_code} excluded"]
                reason = "; ".join(reasons)[:MAX_REASON] or None
                n_figures = stored.n_figures if stored is not None and status in STORED else 0
                self._write(session, run_id, item if first else None, dict(
                    row, article_id=stored.article_id if stored else None, status=status, reason=reason,
                    other_origin=stored.other_origin if stored else None, n_figures=n_figures,
                    seconds=time.perf_counter() - started))
        except DiskFull:
            raise
        except Exception as exc:  # noqa: BLE001 - this article only (its transaction rolled back)
            log.debug("article %s failed:\n%s", name, traceback.format_exc())
            status, reason, stored, n_figures = "failed", describe_error(exc), None, 0
            with self.sessions.begin() as session:
                if self._claim(session, run_id, item, name, first=first):
                    self._write(session, run_id, item if first else None, dict(
                        row, status=status, reason=reason, seconds=time.perf_counter() - started))
        return ItemOutcome(name, status, reason, n_figures, [stored.article_id] if stored and stored.article_id else [],
                           origin=bundle.origin, other_origin=stored.other_origin if stored else None)

    def record_failure(self, run_id: int, item: WorkItem, reason: str) -> ItemOutcome:
        """Record `item` as failed unless it was recorded already (a task that gave up)."""
        return self._record(run_id, item, "failed", reason, None, time.perf_counter())

    def _record(
        self, run_id: int, item: WorkItem, status: str, reason: str, bundle: ArticleBundle | None, started: float
    ) -> ItemOutcome:
        origin = bundle.origin if bundle else None
        with self.sessions.begin() as session:
            if self._claim(session, run_id, item, item.name, first=True):
                self._write(session, run_id, item, dict(
                    item=item.name, status=status, reason=reason[:MAX_REASON], source=bundle.source if bundle else None,
                    origin=origin, seconds=time.perf_counter() - started))
        return ItemOutcome(item.name, status, reason, origin=origin)

    def _write(self, session: Session, run_id: int, queued: WorkItem | None, values: dict) -> None:
        """The item's outcome: into its queued row when it has one, else a new row; and its count."""
        if queued is not None and queued.record_id is not None:
            session.execute(update(HarvestItem).where(HarvestItem.id == queued.record_id)
                            .values(**values, created_at=func.now()))
        else:
            session.add(HarvestItem(run_id=run_id, **values))
        self._count(session, run_id, values["status"])

    def _count(self, session: Session, run_id: int, status: str) -> None:
        """With live counts, the item's own transaction adds it to its run: counters and rows agree."""
        if not self.live_counts:
            return
        columns = _COUNTERS[status]
        session.execute(update(HarvestRun).where(HarvestRun.id == run_id)
                        .values({c: getattr(HarvestRun, c) + 1 for c in columns}))

    @staticmethod
    def _claim(session: Session, run_id: int, item: WorkItem, name: str, *, first: bool) -> bool:
        """Inside an item's transaction: may it be recorded? Always, without a queued row. With one, the
        row is locked and must still be queued; the further articles of a multi-article file (rare:
        the bucket has one per file) are locked and looked up by name."""
        if item.record_id is None:
            return True
        if first:
            status = session.scalar(select(HarvestItem.status).where(HarvestItem.id == item.record_id)
                                    .with_for_update())
            return status == QUEUED
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": f"harvest_item:{run_id}:{name}"})
        return session.scalar(
            select(HarvestItem.id).where(HarvestItem.run_id == run_id, HarvestItem.item == name).limit(1)
        ) is None

    def _recorded(self, item: WorkItem) -> ItemOutcome | None:
        """The outcome already in the item's row (a task delivered again), or None while it is queued."""
        with self.sessions() as session:
            row = session.execute(
                select(HarvestItem.status, HarvestItem.reason, HarvestItem.article_id, HarvestItem.origin)
                .where(HarvestItem.id == item.record_id)
            ).one_or_none()
        if row is None or row.status == QUEUED:
            return None
        # the figures were counted by the delivery that stored them
        return ItemOutcome(item.name, row.status, row.reason, 0, [row.article_id] if row.article_id else [],
                           origin=row.origin)

    # -- a run -------------------------------------------------------------------------------
    def start_run(self, params: dict, *, local: bool = True) -> int:
        """Record a new run. A local run (this process carries it out) records its process and gets a
        work folder under `$FIGMINE_HOME/tmp/`, so the next start can tell it was killed and clean up."""
        from store.modalities import ensure_taxonomy

        mark_interrupted_runs(self.sessions)
        with self.sessions.begin() as session:
            ensure_taxonomy(session)
            run = HarvestRun(params=params, host=socket.gethostname() if local else None,
                             pid=os.getpid() if local else None)
            session.add(run)
            session.flush()
            if local:
                self.workdir = run_workdir(run.id)
                self.workdir.mkdir(parents=True, exist_ok=True)
                run.workdir = str(self.workdir)
            return run.id

    def run(
        self,
        items: Iterable[WorkItem],
        params: dict,
        *,
        total: int | None = None,
        on_progress: Callable[[RunSummary, int | None], None] | None = None,
        run_id: int | None = None,
    ) -> RunSummary:
        run_id = run_id or self.start_run(params)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="figmine-harvest")
        futures = (pool.submit(self.process, run_id, item) for item in items)
        return self.follow(run_id, futures, width=self.concurrency, total=total, on_progress=on_progress,
                           close=lambda: pool.shutdown(wait=True, cancel_futures=True))

    def follow(
        self,
        run_id: int,
        futures: Iterable[Future[ItemOutcome | list[ItemOutcome]]],
        *,
        width: int,
        total: int | None = None,
        on_progress: Callable[[RunSummary, int | None], None] | None = None,
        close: Callable[[], None] | None = None,
    ) -> RunSummary:
        """Collect the outcomes of submitted work (one item or a group per future) into the run.

        `futures` is drawn lazily, at most 2 × `width` outstanding, so a generator that submits on
        demand keeps the pool fed without queueing the whole discovery up front. `close` (shutting
        the pool down) runs before the run is marked ended, so an ended run has nothing left running.
        """
        summary = RunSummary(run_id)
        started = time.perf_counter()
        last_flush = 0.0
        status, error = "finished", None
        try:
            pending: set[Future] = set()
            for future in futures:
                pending.add(future)
                while len(pending) >= 2 * width:
                    last_flush = self._collect(run_id, summary, pending, total, on_progress, last_flush)
            while pending:
                last_flush = self._collect(run_id, summary, pending, total, on_progress, last_flush)
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted by the user"
            raise
        except Exception as exc:  # discovery failed (E-utilities down), or the disk is full: the run says why
            status, error = "failed", describe_error(exc)
            raise
        finally:
            if close is not None:
                close()
            summary.seconds = time.perf_counter() - started
            summary.status = status
            self._flush(run_id, summary, total, status=status, error=error)
            self._final_counts(run_id, summary)
            if self.workdir is not None and self.workdir.name == f"run-{run_id}":
                shutil.rmtree(self.workdir, ignore_errors=True)
        return summary

    def _collect(self, run_id, summary, pending, total, on_progress, last_flush) -> float:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            pending.discard(future)
            result = future.result()
            for outcome in result if isinstance(result, list) else [result]:
                summary.add(outcome)
        if on_progress:
            on_progress(summary, total)
        now = time.perf_counter()
        if now - last_flush > 2.0:
            self._flush(run_id, summary, total)
            return now
        return last_flush

    def _final_counts(self, run_id: int, summary: RunSummary) -> None:
        """What the run left in the store: an article stored and then replaced by a better copy in the
        same run (or one file's copy conflicting with another's) is one article with its figures."""
        with self.sessions() as session:
            counts = run_counts(session, [run_id])[run_id]
        summary.articles, summary.figures = counts.articles, counts.figures

    def _flush(self, run_id: int, summary: RunSummary, total: int | None, *, status: str | None = None,
               error: str | None = None) -> None:
        # live counts: the items' own transactions keep the counters
        values = dict(total=total) if self.live_counts else dict(
            done=summary.done, skipped=summary.skipped + summary.conflict, failed=summary.failed,
            partial=summary.partial, replaced=summary.replaced, conflict=summary.conflict, total=total)
        if status is not None:
            values.update(status=status, error=error, finished_at=datetime.now(timezone.utc))
        with self.sessions.begin() as session:
            session.execute(update(HarvestRun).where(HarvestRun.id == run_id).values(**values))


def _judge(stored, prepared) -> tuple[str, list[str]]:
    """An article's item status and reasons from what the store did with it."""
    reasons: list[str] = []
    if stored.status == "unchanged":
        return "skipped", ["unchanged (already stored)"]
    if stored.status == "conflict":
        return "conflict", [f"{prepared.key} is stored from {stored.other_origin} ({stored.why}); this copy is "
                            f"not stored"]
    if stored.status == "replaced":
        reasons.append(f"replaced the copy of {prepared.key} from {stored.other_origin} ({stored.why})")
    incomplete = prepared.incomplete
    reasons += incomplete + list(stored.warnings or ())
    if incomplete:
        return "partial", reasons
    return ("replaced" if stored.status == "replaced" else "ok"), reasons


# -- runs killed without a word ------------------------------------------------------------------
def run_workdir(run_id: int) -> Path:
    """A local run's temporary files (extracted packages, downloads): removed at its end, or by the
    next start when it was killed."""
    from figmine.settings import get_settings

    return get_settings().home.resolve() / "tmp" / f"run-{run_id}"


def _process_started(pid: int) -> tuple[str, float] | None:
    """(state, start time as a Unix time) of a process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, since: datetime) -> bool:
    """Is the process that started a run at `since` still there? Not when its pid is gone, a zombie,
    or taken by a process that started after the run."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    started = _process_started(pid)
    if started is None:
        return True
    state, at = started
    return state != "Z" and at <= since.timestamp() + 1.0


def mark_interrupted_runs(sessions: sessionmaker[Session]) -> list[int]:
    """Runs of this machine still `running` whose process is gone (killed with `kill -9`, a power
    cut): marked `interrupted`, their temporary files removed. Returns their ids."""
    host = socket.gethostname()
    with sessions.begin() as session:
        rows = session.execute(
            select(HarvestRun.id, HarvestRun.pid, HarvestRun.started_at, HarvestRun.workdir)
            .where(HarvestRun.status == "running", HarvestRun.host == host, HarvestRun.pid.is_not(None))
            .with_for_update(skip_locked=True)
        ).all()
        dead = [r for r in rows if not process_alive(r.pid, r.started_at)]
        for row in dead:
            session.execute(update(HarvestRun).where(HarvestRun.id == row.id).values(
                status="interrupted", finished_at=datetime.now(timezone.utc),
                error=f"interrupted: its process ({host}, pid {row.pid}) ended without finishing the run"))
    for row in dead:
        if row.workdir and Path(row.workdir).name == f"run-{row.id}":
            shutil.rmtree(row.workdir, ignore_errors=True)
    return [row.id for row in dead]
