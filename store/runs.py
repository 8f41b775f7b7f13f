"""Runs read back from their item rows: what `figmine runs`, `GET /harvests/{id}` and a follower of
distributed work report. The item rows are the truth (each is written in its article's transaction);
the counters on the run row are kept for quick listings and may lag a few seconds behind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import HarvestItem, HarvestRun

STORED = ("ok", "partial", "replaced")  # outcomes whose figures the run stored


def run_counts(session: Session, run_ids: list[int]) -> dict[int, tuple[dict[str, int], int]]:
    """run id → (items by status, figures stored)."""
    out: dict[int, tuple[dict[str, int], int]] = {run_id: ({}, 0) for run_id in run_ids}
    if not run_ids:
        return out
    rows = session.execute(
        select(HarvestItem.run_id, HarvestItem.status, func.count(),
               func.coalesce(func.sum(HarvestItem.n_figures), 0))
        .where(HarvestItem.run_id.in_(run_ids)).group_by(HarvestItem.run_id, HarvestItem.status)
    ).all()
    for run_id, status, count, figures in rows:
        counts, total = out[run_id]
        counts[status] = int(count)
        out[run_id] = (counts, total + (int(figures) if status in STORED else 0))
    return out


def _seconds(run: Any) -> float | None:
    if run.finished_at is None or run.started_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()


def list_runs(session: Session, *, limit: int = 20) -> list[dict]:
    """The newest runs with their outcome counts."""
    runs = session.execute(select(HarvestRun).order_by(HarvestRun.id.desc()).limit(limit)).scalars().all()
    counts = run_counts(session, [r.id for r in runs])
    return [dict(id=r.id, status=r.status, command=(r.params or {}).get("command", "?"), started_at=r.started_at,
                 finished_at=r.finished_at, seconds=_seconds(r), total=r.total, counts=counts[r.id][0],
                 figures=counts[r.id][1], error=r.error)
            for r in runs]


def run_items(session: Session, run_id: int, *, statuses: list[str] | None = None) -> tuple[dict, list[dict]] | None:
    """(the run, each of its items in order: outcome, identity, origin, reason), or None."""
    run = session.get(HarvestRun, run_id)
    if run is None:
        return None
    query = select(HarvestItem).where(HarvestItem.run_id == run_id).order_by(HarvestItem.id)
    if statuses:
        query = query.where(HarvestItem.status.in_(statuses))
    items = [dict(item=i.item, status=i.status, article_key=i.article_key, article_id=i.article_id,
                  origin=i.origin, other_origin=i.other_origin, source=i.source, n_figures=i.n_figures or 0,
                  reason=i.reason, seconds=i.seconds)
             for i in session.execute(query).scalars()]
    counts, figures = run_counts(session, [run_id])[run_id]
    return dict(id=run.id, status=run.status, command=(run.params or {}).get("command", "?"), params=run.params,
                started_at=run.started_at, finished_at=run.finished_at, seconds=_seconds(run), counts=counts,
                figures=figures, error=run.error), items
