"""Figure records as the exports publish them (the JSONL contract of the harvest issue).

One dict per figure with at least: pmcid, version, pmid, doi, license, figure_id (the JATS @id), label,
caption, image (path relative to the export, or null), width, height, sha256, citances
([{text, section, panels}]), subfigures, concepts, modality. Later stages fill the last three.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from store.models import Article, Citance, CitanceFigure, Figure, Modality, Subfigure

BATCH = 500


@dataclass
class FigureRow:
    """A figure with what an exporter needs to find its image."""

    record: dict
    image_key: str | None
    image_format: str | None


def figure_query(pmcids: Sequence[str] | None = None) -> Select:
    stmt = select(Figure, Article).join(Article, Figure.article_id == Article.id)
    if pmcids:
        stmt = stmt.where(Article.pmcid.in_(list(pmcids)))
    return stmt.order_by(Article.id, Figure.ordinal)


def iter_figure_rows(session: Session, pmcids: Sequence[str] | None = None) -> Iterator[FigureRow]:
    """Stream figures in (article, document) order, loading citances and panels a batch at a time."""
    last: tuple[int, int] | None = None
    base = figure_query(pmcids)
    while True:
        stmt = base
        if last is not None:
            stmt = stmt.where((Figure.article_id > last[0]) | ((Figure.article_id == last[0]) & (Figure.id > last[1])))
        stmt = stmt.order_by(None).order_by(Figure.article_id, Figure.id).limit(BATCH)
        batch = session.execute(stmt).all()
        if not batch:
            return
        figure_ids = [fig.id for fig, _ in batch]
        citances = _citances_for(session, figure_ids)
        subfigures = _subfigures_for(session, figure_ids)
        modalities = _modality_codes(session)
        for fig, art in batch:
            yield FigureRow(
                record=_record(fig, art, citances.get(fig.id, []), subfigures.get(fig.id, []), modalities),
                image_key=fig.image_key,
                image_format=fig.image_format,
            )
        last = (batch[-1][0].article_id, batch[-1][0].id)


def _citances_for(session: Session, figure_ids: list[int]) -> dict[int, list[dict]]:
    rows = session.execute(
        select(CitanceFigure.figure_id, CitanceFigure.panels, Citance.text, Citance.section)
        .join(Citance, Citance.id == CitanceFigure.citance_id)
        .where(CitanceFigure.figure_id.in_(figure_ids))
        .order_by(CitanceFigure.figure_id, Citance.ordinal)
    ).all()
    out: dict[int, list[dict]] = defaultdict(list)
    for figure_id, panels, text, section in rows:
        out[figure_id].append({"text": text, "section": section, "panels": list(panels or [])})
    return out


def _subfigures_for(session: Session, figure_ids: list[int]) -> dict[int, list[dict]]:
    rows = session.execute(
        select(Subfigure).where(Subfigure.figure_id.in_(figure_ids)).order_by(Subfigure.figure_id, Subfigure.ordinal)
    ).scalars()
    out: dict[int, list[dict]] = defaultdict(list)
    for sub in rows:
        out[sub.figure_id].append(
            {
                "box": [sub.x1, sub.y1, sub.x2, sub.y2],
                "score": sub.score,
                "label": sub.label,
                "method": sub.method,
            }
        )
    return out


def _modality_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Modality.id, Modality.code)).all())


def _record(fig: Figure, art: Article, citances: list[dict], subfigures: list[dict], modalities: dict) -> dict:
    return {
        "pmcid": art.pmcid,
        "version": art.version,
        "pmid": art.pmid,
        "doi": art.doi,
        "title": art.title,
        "journal": art.journal,
        "year": art.year,
        "license": art.license_code,
        "retracted": art.retracted,
        "figure_id": fig.jats_id,
        "label": fig.label,
        "caption_title": fig.caption_title,
        "caption": fig.caption_text,
        "image": None,
        "width": fig.width,
        "height": fig.height,
        "sha256": fig.sha256,
        "phash": fig.phash,
        "image_source": fig.source if fig.image_key else None,
        "citances": citances,
        "subfigures": subfigures,
        "concepts": [],
        "modality": modalities.get(fig.modality_id) if fig.modality_id else None,
    }
