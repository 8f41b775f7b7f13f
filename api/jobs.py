"""Background jobs of the API: harvests (the runner code of `figmine harvest`) and exports.

A POST records the job (a `harvest_runs` / `exports` row) and returns at once; the work runs on a
daemon thread of this process, at most `FIGMINE_API_JOB_WORKERS` at a time (the others wait for a
slot). Progress is read back from the database, so any API process can answer `GET /harvests/{id}`.
On shutdown, jobs still running are marked `interrupted`: a harvest is safe to run again (stored
articles are skipped), an export is started anew.

A harvest's articles are processed on a local process pool, or, with `FIGMINE_BROKER_URL` set, sent
to the Celery workers: then the job only discovers and dispatches, and the workers finish the run.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from api.metrics import ApiMetrics
from api.problems import Problem
from api.schemas import HarvestRequest
from figmine.settings import Settings
from store.models import Export, HarvestRun

log = logging.getLogger("figmine.api.jobs")


class JobRunner:
    def __init__(self, workers: int, metrics: ApiMetrics | None = None):
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self._lock = threading.Lock()
        self._threads: dict[tuple[str, int], threading.Thread] = {}
        self._metrics = metrics

    def submit(self, kind: str, job_id: int, fn: Callable[[], None]) -> None:
        context = contextvars.copy_context()  # log lines of the job carry the request id that started it
        thread = threading.Thread(
            target=context.run, args=(self._run, kind, job_id, fn), name=f"figmine-{kind}-{job_id}", daemon=True
        )
        with self._lock:
            self._threads[(kind, job_id)] = thread
        thread.start()

    def _run(self, kind: str, job_id: int, fn: Callable[[], None]) -> None:
        try:
            with self._slots:
                if self._metrics:
                    self._metrics.jobs_running.labels(kind).inc()
                try:
                    log.info("%s job %d started", kind, job_id, extra={"job": kind, "job_id": job_id})
                    fn()
                    log.info("%s job %d ended", kind, job_id, extra={"job": kind, "job_id": job_id})
                except BaseException:  # noqa: BLE001 - a job never takes the server down
                    log.exception("%s job %d failed", kind, job_id, extra={"job": kind, "job_id": job_id})
                finally:
                    if self._metrics:
                        self._metrics.jobs_running.labels(kind).dec()
        finally:
            with self._lock:
                self._threads.pop((kind, job_id), None)

    def active(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every job (tests); True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.active()

    def interrupt_all(self, sessions: sessionmaker[Session]) -> None:
        """Mark what this process is still running as interrupted (called at shutdown)."""
        active = self.active()
        if not active:
            return
        now = datetime.now(timezone.utc)
        message = "interrupted: the API server stopped"
        with sessions.begin() as session:
            for kind, job_id in active:
                model = HarvestRun if kind == "harvest" else Export
                session.execute(
                    update(model)
                    .where(model.id == job_id, model.status.in_(("queued", "running")))
                    .values(status="interrupted", error=message, finished_at=now)
                )


# -- harvests ----------------------------------------------------------------------------------
@dataclass
class HarvestPlan:
    ids: list[str]
    params: dict
    total: int | None


def plan_harvest(req: HarvestRequest) -> HarvestPlan:
    """Check a harvest request the way the CLI does; a Problem (422) says what is wrong."""
    from harvester.discovery import classify_id

    ids: list[str] = []
    bad: list[str] = []
    for value in [*req.pmcid, *req.pmid, *req.doi]:
        for part in value.replace(",", " ").split():
            try:
                classify_id(part)
                ids.append(part)
            except ValueError:
                bad.append(part)
    if bad:
        raise Problem(422, f"not a PMCID, PMID or DOI: {', '.join(bad[:10])}", title="Invalid identifiers")
    if not ids and not req.query and not req.since:
        raise Problem(422, "give pmcid/pmid/doi, query or since", title="Nothing to harvest")
    since = req.since.isoformat() if req.since else None
    params = {"command": "harvest", "via": "api", "ids": ids, "query": req.query, "since": since,
              "limit": req.limit, "license": req.license}
    total = min(len(ids), req.limit or len(ids)) if ids and not req.query and not req.since else None
    return HarvestPlan(ids, params, total)


def build_runner(settings: Settings, sessions: sessionmaker[Session], license_filter: str, concurrency: int | None):
    from pipeline.runner import HarvestRunner

    return HarvestRunner.from_settings(settings, sessions, license_filter=license_filter, concurrency=concurrency)


def start_harvest(req: HarvestRequest, settings: Settings, sessions: sessionmaker[Session],
                  jobs: JobRunner) -> int:
    """Record the run and start it on a background thread; returns the run id."""
    plan = plan_harvest(req)
    runner = build_runner(settings, sessions, req.license, req.concurrency)
    run_id = runner.start_run(plan.params)

    def job() -> None:
        from harvester.discovery import discover
        from pipeline.harvest import RemoteFetcher

        try:
            fetcher = RemoteFetcher(sessions, license_filter=req.license, use_europepmc=settings.use_europepmc)
            refs = discover(ids=plan.ids or None, query=req.query, since=req.since, limit=req.limit,
                            source=fetcher.s3)
        except Exception as exc:
            _fail_run(sessions, run_id, f"{type(exc).__name__}: {exc}")
            raise
        if settings.broker_url:
            from workers.celery_app import dispatch_harvest
            from workers.progress import later_stages

            try:  # the workers finish the run; discovery errors fail it here
                dispatch_harvest(run_id, refs, license_filter=req.license, follow=later_stages(True))
            except Exception as exc:
                _fail_run(sessions, run_id, f"{type(exc).__name__}: {exc}")
                raise
            return
        from workers.local_pool import harvest_on_pool

        # the runner marks the run finished, or failed with the reason (discovery errors included)
        summary = harvest_on_pool(runner, refs, plan.params, license_filter=req.license, total=plan.total,
                                  run_id=run_id)
        if summary.done:  # something new was stored
            _caption_stage(settings, sessions, run_id)

    jobs.submit("harvest", run_id, job)
    return run_id


def _caption_stage(settings: Settings, sessions: sessionmaker[Session], run_id: int) -> None:
    """Concepts, panel citances and panel modalities of the figures not annotated yet
    (pipeline.caption_stage). A failure here is logged; the harvest itself has succeeded."""
    from pipeline.caption_stage import annotate_pending
    from store.blobs import open_blob_store

    try:
        summary = annotate_pending(sessions, open_blob_store(settings.blob_location))
    except Exception:  # noqa: BLE001
        log.exception("harvest %d: caption stage failed", run_id, extra={"job": "harvest", "job_id": run_id})
        return
    log.info("harvest %d: annotated %d figures (%d concept mentions, %d errors)", run_id, summary.figures,
             summary.mentions, summary.errors, extra={"job": "harvest", "job_id": run_id})


def _fail_run(sessions: sessionmaker[Session], run_id: int, error: str) -> None:
    with sessions.begin() as session:
        session.execute(
            update(HarvestRun).where(HarvestRun.id == run_id)
            .values(status="failed", error=error[:4000], finished_at=datetime.now(timezone.utc))
        )


# -- exports -----------------------------------------------------------------------------------
def start_export(req, settings: Settings, sessions: sessionmaker[Session], blobs, jobs: JobRunner) -> int:
    """Record an export job with the export engine (which checks the parameters) and run it on a
    background thread; returns its id."""
    from store.exporters import ExportError, create_export_job, execute_export_job

    try:
        export_id = create_export_job(
            sessions, format=req.format, level=req.level, filter=req.filters.model_dump(), seed=req.seed,
            splits=req.splits, dedup=req.dedup, shard_size=req.shard_size, with_images=req.with_images,
        )
    except ExportError as exc:
        raise Problem(422, str(exc), title="Invalid export") from exc

    def job() -> None:
        execute_export_job(export_id, session_factory=sessions, blobs=blobs)

    jobs.submit("export", export_id, job)
    return export_id
