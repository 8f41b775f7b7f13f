"""Run a harvest: fetch → prepare → store for a stream of work items, concurrently, with progress.

Each item is independent: whatever goes wrong with one (network, bad XML, image bomb, wrong md5) is
recorded as a `harvest_items` row with a clear reason and the run goes on. Each article is written in
its own transaction together with its item row, so a run killed at any point leaves no half article,
and running it again skips what is stored (same version and checksums).
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

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from harvester.licenses import license_allowed
from harvester.records import ArticleBundle, SourceError
from pipeline.prepare import Preparer
from store.articles import store_article
from store.models import HarvestItem, HarvestRun

log = logging.getLogger(__name__)

Fetch = Callable[[Path], ArticleBundle]


class SkipItem(Exception):
    """Raised by a fetch that finds nothing to do (already stored, licence excluded): a skipped record."""


@dataclass
class WorkItem:
    """One thing to harvest: a name for the records and a way to fetch it into a work folder."""

    name: str
    fetch: Fetch


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
    ):
        license_allowed(None, license_filter)  # validates the filter name early
        self.sessions = sessions
        self.preparer = preparer
        self.license_filter = license_filter
        self.concurrency = max(1, concurrency)
        self.workdir = workdir

    @classmethod
    def from_settings(cls, settings, sessions: sessionmaker[Session], *, license_filter: str = "any",
                      concurrency: int | None = None) -> "HarvestRunner":
        """The runner the CLI and the API both use: the configured blob store and image limit."""
        from store.blobs import open_blob_store

        preparer = Preparer(open_blob_store(settings.blob_location), max_image_pixels=settings.max_image_pixels)
        return cls(sessions, preparer, license_filter=license_filter, concurrency=concurrency or settings.concurrency)

    # -- one item -----------------------------------------------------------------------------
    def process(self, run_id: int, item: WorkItem) -> ItemOutcome:
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
            for prepared in prepared_articles:
                if not license_allowed(prepared.license_code, self.license_filter):
                    reasons.append(f"{prepared.key}: licence {prepared.license_code} excluded")
                    continue
                image_errors = prepared.image_errors
                with self.sessions.begin() as session:
                    stored = store_article(session, prepared)
                    if stored.status in ("stored", "replaced"):
                        status = "partial" if image_errors else "ok"
                        reason = "; ".join(image_errors)[:4000] or None
                        outcome.n_figures += stored.n_figures
                    else:
                        status, reason = "skipped", f"{stored.status} (already stored)"
                    session.add(
                        HarvestItem(
                            run_id=run_id,
                            item=prepared.key if len(prepared_articles) > 1 else item.name,
                            article_id=stored.article_id,
                            status=status,
                            reason=reason,
                            source=bundle.source,
                            n_figures=stored.n_figures,
                            seconds=time.perf_counter() - started,
                        )
                    )
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

    def _record(
        self, run_id: int, item: WorkItem, status: str, reason: str, bundle: ArticleBundle | None, started: float
    ) -> ItemOutcome:
        with self.sessions.begin() as session:
            session.add(
                HarvestItem(
                    run_id=run_id,
                    item=item.name,
                    status=status,
                    reason=reason[:4000],
                    source=bundle.source if bundle else None,
                    seconds=time.perf_counter() - started,
                )
            )
        return ItemOutcome(item.name, status, reason)

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
        summary = RunSummary(run_id)
        started = time.perf_counter()
        last_flush = 0.0
        status, error = "finished", None
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="figmine-harvest") as pool:
                pending: set[Future[ItemOutcome]] = set()
                for item in items:
                    while len(pending) >= 2 * self.concurrency:
                        last_flush = self._collect(run_id, summary, pending, total, on_progress, last_flush)
                    pending.add(pool.submit(self.process, run_id, item))
                while pending:
                    last_flush = self._collect(run_id, summary, pending, total, on_progress, last_flush)
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted by the user"
            raise
        except Exception as exc:  # discovery itself failed (e.g. E-utilities down): the run says why
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            self._flush(run_id, summary, total, status=status, error=error)
        return summary

    def _collect(self, run_id, summary, pending, total, on_progress, last_flush) -> float:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            pending.discard(future)
            summary.add(future.result())
        if on_progress:
            on_progress(summary, total)
        now = time.perf_counter()
        if now - last_flush > 2.0:
            self._flush(run_id, summary, total)
            return now
        return last_flush

    def _flush(self, run_id: int, summary: RunSummary, total: int | None, *, status: str | None = None,
               error: str | None = None) -> None:
        values = dict(done=summary.done, skipped=summary.skipped, failed=summary.failed, total=total)
        if status is not None:
            values.update(status=status, error=error, finished_at=datetime.now(timezone.utc))
        with self.sessions.begin() as session:
            session.execute(update(HarvestRun).where(HarvestRun.id == run_id).values(**values))
