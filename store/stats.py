"""Corpus counts for `figmine stats` (and later GET /stats)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Article, Citance, CitanceFigure, Figure, HarvestItem, HarvestRun, Subfigure


def _grouped(session: Session, column, limit: int | None = None) -> dict[str, int]:
    stmt = select(column, func.count()).group_by(column).order_by(func.count().desc())
    if limit:
        stmt = stmt.limit(limit)
    return {str(k) if k is not None else "unknown": n for k, n in session.execute(stmt).all()}


def _grouped_where(session: Session, column, condition) -> dict[str, int]:
    stmt = select(column, func.count()).where(condition).group_by(column)
    return {str(k): n for k, n in session.execute(stmt).all()}


def corpus_stats(session: Session) -> dict:
    figures_with_citances = session.scalar(select(func.count(func.distinct(CitanceFigure.figure_id)))) or 0
    panel_citances = session.scalar(
        select(func.count()).select_from(CitanceFigure).where(func.cardinality(CitanceFigure.panels) > 0)
    ) or 0
    last_run = session.execute(select(HarvestRun).order_by(HarvestRun.id.desc()).limit(1)).scalar_one_or_none()
    return {
        "articles": session.scalar(select(func.count()).select_from(Article)) or 0,
        "figures": session.scalar(select(func.count()).select_from(Figure)) or 0,
        "figures_with_image": session.scalar(select(func.count()).where(Figure.image_key.is_not(None))) or 0,
        "figures_from_pdf": session.scalar(select(func.count()).where(Figure.source == "pdf")) or 0,
        "figures_with_citances": figures_with_citances,
        "citances": session.scalar(select(func.count()).select_from(Citance)) or 0,
        "citance_links_with_panels": panel_citances,
        "subfigures": session.scalar(select(func.count()).select_from(Subfigure)) or 0,
        "by_source": _grouped(session, Article.source),
        "by_license": _grouped(session, Article.license_code),
        "by_year": dict(sorted(_grouped(session, Article.year).items())),
        "top_journals": _grouped(session, Article.journal, limit=10),
        "retracted": session.scalar(select(func.count()).where(Article.retracted.is_(True))) or 0,
        "last_run": None
        if last_run is None
        else {
            "id": last_run.id,
            "status": last_run.status,
            "done": last_run.done,
            "skipped": last_run.skipped,
            "failed": last_run.failed,
            "items": _grouped_where(session, HarvestItem.status, HarvestItem.run_id == last_run.id),
        },
    }
