"""Following a run that other processes carry out (Celery workers): its progress read back from
PostgreSQL, the one place every worker writes to."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.runner import ItemOutcome, RunSummary
from store.models import HarvestItem, HarvestRun
from store.runs import STATUSES, run_counts


def later_stages(detect: bool, captions: bool = True) -> list[str]:
    """The stages a harvest task hands its articles on to, in order: detection and the caption stage
    (each unless turned off; captions where `pipeline.caption_stage` is installed)."""
    stages = ["detect"] if detect else []
    if captions and importlib.util.find_spec("pipeline.caption_stage") is not None:
        stages.append("captions")
    return stages


def run_summary(session: Session, run_id: int, *, failures: int = 20) -> tuple[RunSummary, str, int | None]:
    """(summary from the run's item rows, run status, total)."""
    run = session.get(HarvestRun, run_id)
    if run is None:
        raise LookupError(f"no harvest run {run_id}")
    summary = RunSummary(run_id, status=run.status)
    counts = run_counts(session, [run_id])[run_id]
    summary.articles, summary.figures = counts.articles, counts.figures
    for status in STATUSES:
        setattr(summary, status, counts.items.get(status, 0))
    summary.failures = [
        ItemOutcome(r.item, r.status, r.reason, origin=r.origin, other_origin=r.other_origin) for r in session.execute(
            select(HarvestItem.item, HarvestItem.status, HarvestItem.reason, HarvestItem.origin,
                   HarvestItem.other_origin)
            .where(HarvestItem.run_id == run_id, HarvestItem.status.in_(("failed", "partial", "conflict")))
            .order_by(HarvestItem.id).limit(failures)
        )
    ]
    if run.finished_at is not None and run.started_at is not None:
        summary.seconds = (run.finished_at - run.started_at).total_seconds()
    return summary, run.status, run.total


def wait_for_run(
    sessions: sessionmaker[Session],
    run_id: int,
    *,
    on_progress: Callable[[RunSummary, int | None], None] | None = None,
    poll_s: float = 1.0,
    timeout_s: float | None = None,
) -> RunSummary:
    """Poll the run until it is no longer running; returns its summary. TimeoutError after `timeout_s`."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        with sessions() as session:
            summary, status, total = run_summary(session, run_id)
        if on_progress:
            on_progress(summary, total)
        if status != "running":
            return summary
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"harvest run {run_id} still running after {timeout_s} s")
        time.sleep(poll_s)
