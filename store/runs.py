"""Runs read back from their item rows: what `figmine runs`, `GET /harvests/{id}` and a follower of
distributed work report. The item rows are the truth (each is written in its article's transaction);
the counters on the run row are kept for quick listings and may lag a few seconds behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Figure, HarvestItem, HarvestRun

# every outcome an item row ends with: stored (ok; partial: something of the input could not be kept;
# replaced: over a lower-ranked copy of its identity), skipped, conflict (a higher-ranked copy is
# stored), failed. A distributor's item waits as `queued` first.
STATUSES = ("ok", "partial", "replaced", "skipped", "conflict", "failed")
STORED = STATUSES[:3]


@dataclass
class RunCounts:
    items: dict[str, int] = field(default_factory=dict)  # items by status
    articles: int = 0  # distinct articles the run stored (a copy it replaced later in the run is one)
    figures: int = 0  # their figures as they are in the store now


def run_counts(session: Session, run_ids: list[int]) -> dict[int, RunCounts]:
    """What each run recorded and stored: a multi-article file's articles count one each, an article
    stored and then replaced by a better copy in the same run counts once, with the figures it has."""
    out = {run_id: RunCounts() for run_id in run_ids}
    if not run_ids:
        return out
    for run_id, status, count in session.execute(
        select(HarvestItem.run_id, HarvestItem.status, func.count())
        .where(HarvestItem.run_id.in_(run_ids)).group_by(HarvestItem.run_id, HarvestItem.status)
    ):
        out[run_id].items[status] = int(count)
    stored = (select(HarvestItem.run_id, HarvestItem.article_id)
              .where(HarvestItem.run_id.in_(run_ids), HarvestItem.status.in_(STORED),
                     HarvestItem.article_id.is_not(None))
              .distinct().subquery())
    figures = select(func.count()).where(Figure.article_id == stored.c.article_id).scalar_subquery()
    for run_id, articles, n_figures in session.execute(
        select(stored.c.run_id, func.count(), func.coalesce(func.sum(figures), 0)).group_by(stored.c.run_id)
    ):
        out[run_id].articles, out[run_id].figures = int(articles), int(n_figures)
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
                 finished_at=r.finished_at, seconds=_seconds(r), total=r.total, counts=counts[r.id].items,
                 articles=counts[r.id].articles, figures=counts[r.id].figures, error=r.error)
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
    counts = run_counts(session, [run_id])[run_id]
    return dict(id=run.id, status=run.status, command=(run.params or {}).get("command", "?"), params=run.params,
                started_at=run.started_at, finished_at=run.finished_at, seconds=_seconds(run), counts=counts.items,
                articles=counts.articles, figures=counts.figures, error=run.error), items
