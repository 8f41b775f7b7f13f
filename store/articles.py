"""Write one prepared article in one transaction: insert, or replace an older/different version.

A concurrent writer of the same article waits on a transaction-scoped advisory lock, so two workers
(or a re-run after `kill -9`) never duplicate an article or leave half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from pipeline.prepare import PreparedArticle
from store.models import Article, Citance, CitanceFigure, Figure, Modality, Subcaption


@dataclass
class StoreOutcome:
    status: str  # stored | replaced | unchanged | older
    article_id: int | None
    n_figures: int = 0


def store_article(session: Session, prepared: PreparedArticle) -> StoreOutcome:
    """Store `prepared` inside the caller's transaction (the caller commits)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": prepared.key})
    existing = session.execute(
        select(Article.id, Article.version, Article.content_hash, Article.xml_sha256, Article.file_hashes).where(
            Article.article_key == prepared.key
        )
    ).one_or_none()
    bundle, parsed = prepared.bundle, prepared.parsed
    version = bundle.version
    if existing is not None:
        if existing.version is not None and version is not None and existing.version > version:
            return StoreOutcome("older", existing.id)
        if existing.content_hash == prepared.content_hash or _adds_nothing(existing, prepared):
            return StoreOutcome("unchanged", existing.id)

    values = dict(
        article_key=prepared.key,
        pmcid=bundle.pmcid or parsed.pmcid,
        version=version,
        pmid=bundle.pmid or parsed.pmid,
        doi=bundle.doi or parsed.doi,
        title=parsed.title or bundle.title,
        journal=parsed.journal,
        year=parsed.year,
        article_type=parsed.article_type,
        license_code=prepared.license_code,
        license_url=parsed.license_url,
        retracted=bool(bundle.retracted),
        is_manuscript=bool(bundle.is_manuscript),
        source=bundle.source,
        origin=bundle.origin,
        fetched_at=datetime.now(timezone.utc),
        xml_sha256=prepared.xml_sha256,
        xml_blob_key=prepared.xml_blob_key,
        pdf_blob_key=prepared.pdf_blob_key,
        file_hashes=prepared.file_hashes,
        content_hash=prepared.content_hash,
        warnings=prepared.warnings,
    )
    if existing is None:
        article_id = session.execute(insert(Article).values(**values).returning(Article.id)).scalar_one()
        status = "stored"
    else:
        article_id = existing.id
        # children go with the old version; ON DELETE CASCADE removes subfigures, mentions, targets
        session.execute(delete(Citance).where(Citance.article_id == article_id))
        session.execute(delete(Figure).where(Figure.article_id == article_id))
        session.execute(Article.__table__.update().where(Article.id == article_id).values(**values))
        status = "replaced"

    figure_ids = _insert_figures(session, article_id, prepared)
    _insert_citances(session, article_id, prepared, figure_ids)
    return StoreOutcome(status, article_id, len(prepared.figures))


def _adds_nothing(existing, prepared: PreparedArticle) -> bool:
    """The same XML with no file the stored copy lacks (e.g. a bare .nxml of an article already stored
    from its package or the bucket with its figures): storing it would only lose images."""
    if existing.xml_sha256 != prepared.xml_sha256 or prepared.bundle.version not in (None, existing.version):
        return False
    stored = existing.file_hashes or {}
    return all(stored.get(name) == digest for name, digest in prepared.file_hashes.items()
               if name != (prepared.bundle.xml_path.name if prepared.bundle.xml_path else None))


def _insert_figures(session: Session, article_id: int, prepared: PreparedArticle) -> dict[str, int]:
    """Insert figures in document order; returns JATS id → row id (parents resolved in a second pass)."""
    if not prepared.figures:
        return {}
    modality_ids = dict(session.execute(select(Modality.code, Modality.id)).all())
    rows = []
    for ordinal, fig in enumerate(prepared.figures):
        parsed, image = fig.parsed, fig.primary
        rows.append(
            dict(
                article_id=article_id,
                ordinal=ordinal,
                jats_id=parsed.jats_id,
                label=parsed.label,
                caption_title=parsed.caption_title,
                caption_text=parsed.caption_text or "",
                caption_xml=parsed.caption_xml,
                context=parsed.context,
                graphic_href=parsed.graphic_hrefs[0] if parsed.graphic_hrefs else None,
                graphics=[
                    {k: v for k, v in img.__dict__.items() if v is not None} for img in fig.images
                ],
                source=fig.source,
                image_key=image.key if image else None,
                image_format=image.format if image else None,
                width=image.width if image else None,
                height=image.height if image else None,
                sha256=image.sha256 if image else None,
                phash=image.phash if image else None,
                image_error=fig.image_error,
                modality_id=modality_ids.get(fig.modality.code) if fig.modality else None,
                modality_score=fig.modality.confidence if fig.modality else None,
            )
        )
    ids = session.execute(
        insert(Figure).returning(Figure.id, sort_by_parameter_order=True), rows
    ).scalars().all()
    by_jats_id = {}
    for fig, row_id in zip(prepared.figures, ids):
        if fig.parsed.jats_id and fig.parsed.jats_id not in by_jats_id:
            by_jats_id[fig.parsed.jats_id] = row_id
    subcaptions = [
        dict(figure_id=row_id, ordinal=i, label=sub.label, text=sub.text, full_text=sub.full_text, flag="unaligned")
        for fig, row_id in zip(prepared.figures, ids)
        for i, sub in enumerate(fig.subcaptions)
    ]
    if subcaptions:
        session.execute(insert(Subcaption), subcaptions)
    parents = [
        {"fid": row_id, "pid": by_jats_id[fig.parsed.parent_jats_id]}
        for fig, row_id in zip(prepared.figures, ids)
        if fig.parsed.parent_jats_id and fig.parsed.parent_jats_id in by_jats_id
    ]
    if parents:
        session.execute(text("UPDATE figures SET parent_id = :pid WHERE id = :fid"), parents)
    return by_jats_id


def _insert_citances(
    session: Session, article_id: int, prepared: PreparedArticle, figure_ids: dict[str, int]
) -> None:
    citances = prepared.parsed.citances
    if not citances:
        return
    rows = [
        dict(
            article_id=article_id,
            ordinal=ordinal,
            text=c.text,
            section=c.section,
            panels=c.panels,
            xref_texts=c.xref_texts,
        )
        for ordinal, c in enumerate(citances)
    ]
    ids = session.execute(insert(Citance).returning(Citance.id, sort_by_parameter_order=True), rows).scalars().all()
    targets = []
    for citance, citance_id in zip(citances, ids):
        seen: set[int] = set()
        for jats_id in citance.figure_ids:
            figure_id = figure_ids.get(jats_id)
            if figure_id is None or figure_id in seen:
                continue
            seen.add(figure_id)
            panels = citance.panels_by_figure.get(jats_id)
            if panels is None:
                panels = citance.panels if len(citance.figure_ids) == 1 else []
            targets.append(dict(citance_id=citance_id, figure_id=figure_id, panels=panels))
    if targets:
        session.execute(insert(CitanceFigure), targets)


def count_rows(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
