"""Run a harvest: fetch → prepare → store for a stream of work items, concurrently, with progress.

Each item is independent: whatever goes wrong with one (network, bad XML, image bomb, wrong md5) is
recorded as a `harvest_items` row with a clear reason and the run goes on. Each article is written in
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
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from harvester.licenses import license_allowed
from harvester.records import ArticleBundle, SourceError
from pipeline.prepare import Preparer
from store.articles import store_article
from store.models import HarvestItem, HarvestRun

log = logging.getLogger(__name__)

Fetch = Callable[[Path], ArticleBundle]
QUEUED = "queued"  # an item row written before its item was sent to a worker


class SkipItem(Exception):
    """Raised by a fetch that finds nothing to do (already stored, licence excluded): a skipped record."""


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
    status: str  # ok | partial | skipped | failed
    reason: str | None = None
    n_figures: int = 0
    article_ids: list[int] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: int
    ok: int = 0
    partial: int = 0
    skipped: int = 0
    failed: int = 0
    figures: int = 0
    seconds: float = 0.0
    failures: list[ItemOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ok + self.partial

    def add(self, outcome: ItemOutcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.figures += outcome.n_figures
        if outcome.status == "failed":
            self.failures.append(outcome)


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
            return [self.process(run_id, item) for item in items]
        with ThreadPoolExecutor(min(self.concurrency, len(items)), thread_name_prefix="figmine-group") as pool:
            return list(pool.map(lambda item: self.process(run_id, item), items))

    def process(self, run_id: int, item: WorkItem) -> ItemOutcome:
        if item.record_id is not None:
            recorded = self._recorded(item)
            if recorded is not None:  # delivered again: nothing to fetch
                return recorded
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix="figmine-", dir=self.workdir))
        bundle: ArticleBundle | None = None
        try:
            bundle = item.fetch(tmp)
            if bundle.license_code is not None and not license_allowed(bundle.license_code, self.license_filter):
                return self._record(run_id, item, "skipped", f"licence {bundle.license_code} excluded", bundle, started)
            prepared_articles = self.preparer.prepare(bundle)
            if not prepared_articles:
                return self._record(run_id, item, "failed", "no <article> in the XML", bundle, started)
            outcome = ItemOutcome(item.name, "skipped")
            reasons: list[str] = []
            wrote = False  # the first article written takes the item's queued row
            for prepared in prepared_articles:
                if not license_allowed(prepared.license_code, self.license_filter):
                    reasons.append(f"{prepared.key}: licence {prepared.license_code} excluded")
                    continue
                image_errors = prepared.image_errors
                name = prepared.key if len(prepared_articles) > 1 else item.name
                with self.sessions.begin() as session:
                    if not self._claim(session, run_id, item, name, first=not wrote):
                        continue  # another delivery of this item recorded it meanwhile
                    stored = store_article(session, prepared)
                    if stored.status in ("stored", "replaced"):
                        status = "partial" if image_errors else "ok"
                        reason = "; ".join(image_errors)[:4000] or None
                        outcome.n_figures += stored.n_figures
                    else:
                        status, reason = "skipped", f"{stored.status} (already stored)"
                    self._write(session, run_id, None if wrote else item, dict(
                        item=name, article_id=stored.article_id, status=status, reason=reason, source=bundle.source,
                        n_figures=stored.n_figures, seconds=time.perf_counter() - started))
                wrote = True
                if stored.article_id is not None:
                    outcome.article_ids.append(stored.article_id)
                if status in ("ok", "partial") and outcome.status != "partial":
                    outcome.status = status
                if reason:
                    reasons.append(reason)
            if outcome.status == "skipped" and not outcome.article_ids:
                # every article excluded by licence: still one record saying so
                return self._record(run_id, item, "skipped", "; ".join(reasons), bundle, started)
            outcome.reason = "; ".join(reasons) or None
            return outcome
        except SourceError as exc:
            return self._record(run_id, item, "failed", str(exc), bundle, started)
        except SkipItem as exc:
            return self._record(run_id, item, "skipped", str(exc), bundle, started)
        except Exception as exc:  # noqa: BLE001 - one bad article never stops the run
            log.debug("item %s failed:\n%s", item.name, traceback.format_exc())
            return self._record(run_id, item, "failed", f"{type(exc).__name__}: {exc}", bundle, started)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def record_failure(self, run_id: int, item: WorkItem, reason: str) -> ItemOutcome:
        """Record `item` as failed unless it was recorded already (a task that gave up)."""
        return self._record(run_id, item, "failed", reason, None, time.perf_counter())

    def _record(
        self, run_id: int, item: WorkItem, status: str, reason: str, bundle: ArticleBundle | None, started: float
    ) -> ItemOutcome:
        with self.sessions.begin() as session:
            if self._claim(session, run_id, item, item.name, first=True):
                self._write(session, run_id, item, dict(
                    item=item.name, status=status, reason=reason[:4000], source=bundle.source if bundle else None,
                    seconds=time.perf_counter() - started))
        return ItemOutcome(item.name, status, reason)

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
        column = {"ok": "done", "partial": "done"}.get(status, status)
        counter = getattr(HarvestRun, column)
        session.execute(update(HarvestRun).where(HarvestRun.id == run_id).values({column: counter + 1}))

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
                select(HarvestItem.status, HarvestItem.reason, HarvestItem.article_id)
                .where(HarvestItem.id == item.record_id)
            ).one_or_none()
        if row is None or row.status == QUEUED:
            return None
        # the figures were counted by the delivery that stored them
        return ItemOutcome(item.name, row.status, row.reason, 0, [row.article_id] if row.article_id else [])

    # -- a run -------------------------------------------------------------------------------
    def start_run(self, params: dict) -> int:
        from store.modalities import ensure_taxonomy

        with self.sessions.begin() as session:
            ensure_taxonomy(session)
            run = HarvestRun(params=params)
            session.add(run)
            session.flush()
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
        except Exception as exc:  # discovery itself failed (e.g. E-utilities down): the run says why
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if close is not None:
                close()
            summary.seconds = time.perf_counter() - started
            self._flush(run_id, summary, total, status=status, error=error)
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

    def _flush(self, run_id: int, summary: RunSummary, total: int | None, *, status: str | None = None,
               error: str | None = None) -> None:
        # live counts: the items' own transactions keep the counters
        values = dict(total=total) if self.live_counts else dict(
            done=summary.done, skipped=summary.skipped, failed=summary.failed, total=total)
        if status is not None:
            values.update(status=status, error=error, finished_at=datetime.now(timezone.utc))
        with self.sessions.begin() as session:
            session.execute(update(HarvestRun).where(HarvestRun.id == run_id).values(**values))
