"""Background jobs of the API: harvests (the front door `figmine harvest` uses too) and exports.

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
def start_harvest(req: HarvestRequest, settings: Settings, sessions: sessionmaker[Session],
                  jobs: JobRunner) -> int:
    """Record the run and start it on a background thread (pipeline.harvest.Harvest, the front door
    `figmine harvest` uses too); returns the run id. A Problem (422) says what is wrong with `req`."""
    from pipeline.harvest import Harvest, HarvestPlanError

    try:
        harvest = Harvest(req, settings=settings, sessions=sessions, via="api")
    except HarvestPlanError as exc:
        raise Problem(422, str(exc), title=exc.title) from exc
    # with a broker the workers finish the run (and its later stages); without, this thread does
    jobs.submit("harvest", harvest.run_id, lambda: harvest.run(wait=False))
    return harvest.run_id


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
