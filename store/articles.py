"""Write one prepared article in one transaction: insert, replace a lower-ranked copy, or keep the stored one.

A concurrent writer of the same article waits on a transaction-scoped advisory lock, so two workers
(or a re-run after `kill -9`) never duplicate an article or leave half of one. Two inputs with one
identity and different content are decided by `harvester.identity.Claim` (version, publication date,
completeness, content hash), so the stored copy does not depend on the order they came in.
Every value is fitted to its column first (`store.fit`): an overlong field costs a warning, not the
article.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from harvester.identity import Claim
from pipeline.prepare import PreparedArticle
from store.fit import clean_json, fit_row
from store.models import Article, Citance, CitanceFigure, Figure, Modality, Subcaption


@dataclass
class StoreOutcome:
    status: str  # stored | replaced | unchanged | conflict (a higher-ranked copy is stored: this one is not)
    article_id: int | None
    n_figures: int = 0
    other_origin: str | None = None  # replaced / conflict: where the other copy came from
    why: str | None = None  # replaced / conflict: why the kept copy ranks higher
    warnings: list[str] | None = None  # values fitted to their columns


def store_article(session: Session, prepared: PreparedArticle) -> StoreOutcome:
    """Store `prepared` inside the caller's transaction (the caller commits)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": prepared.key})
    images = select(func.count()).where(Figure.article_id == Article.id, Figure.image_key.is_not(None))
    existing = session.execute(
        select(Article.id, Article.version, Article.content_hash, Article.xml_sha256, Article.file_hashes,
               Article.pub_date, Article.origin, images.scalar_subquery().label("images"))
        .where(Article.article_key == prepared.key)
    ).one_or_none()
    bundle, parsed, identity = prepared.bundle, prepared.parsed, prepared.identity
    claim = prepared.claim
    if existing is not None:
        if existing.content_hash == prepared.content_hash or _adds_nothing(existing, prepared):
            return StoreOutcome("unchanged", existing.id)
        stored = Claim(existing.version, existing.pub_date, existing.images, existing.content_hash)
        if stored.rank > claim.rank:
            return StoreOutcome("conflict", existing.id, other_origin=existing.origin, why=stored.why_over(claim))

    fitted: list[str] = []
    values = fit_row(Article, dict(
        article_key=prepared.key,
        pmcid=identity.pmcid,
        version=identity.version,
        pmid=identity.pmid,
        doi=identity.doi,
        title=parsed.title or (bundle.title if prepared.single else None),
        journal=parsed.journal,
        year=parsed.year,
        pub_date=parsed.pub_date,
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
        file_hashes=clean_json(prepared.file_hashes),
        content_hash=prepared.content_hash,
        warnings=clean_json(prepared.warnings),
    ), fitted)
    if existing is None:
        article_id = session.execute(insert(Article).values(**values).returning(Article.id)).scalar_one()
        outcome = StoreOutcome("stored", article_id)
    else:
        article_id = existing.id
        # children go with the old copy; ON DELETE CASCADE removes subfigures, mentions, targets
        session.execute(delete(Citance).where(Citance.article_id == article_id))
        session.execute(delete(Figure).where(Figure.article_id == article_id))
        session.execute(Article.__table__.update().where(Article.id == article_id).values(**values))
        outcome = StoreOutcome("replaced", article_id, other_origin=existing.origin,
                               why=claim.why_over(Claim(existing.version, existing.pub_date, existing.images,
                                                        existing.content_hash)))

    figure_ids = _insert_figures(session, article_id, prepared, fitted)
    _insert_citances(session, article_id, prepared, figure_ids, fitted)
    if fitted:
        session.execute(Article.__table__.update().where(Article.id == article_id)
                        .values(warnings=clean_json(prepared.warnings + fitted)))
    outcome.n_figures = len(prepared.figures)
    outcome.warnings = fitted
    return outcome


def _adds_nothing(existing, prepared: PreparedArticle) -> bool:
    """The same XML with no file the stored copy lacks (e.g. a bare .nxml of an article already stored
    from its package or the bucket with its figures): storing it would only lose images."""
    if existing.xml_sha256 != prepared.xml_sha256 or prepared.bundle.version not in (None, existing.version):
        return False
    stored = existing.file_hashes or {}
    return all(stored.get(name) == digest for name, digest in prepared.file_hashes.items()
               if name != (prepared.bundle.xml_path.name if prepared.bundle.xml_path else None))


def _insert_figures(session: Session, article_id: int, prepared: PreparedArticle,
                    fitted: list[str]) -> dict[str, int]:
    """Insert figures in document order; returns JATS id → row id (parents resolved in a second pass)."""
    if not prepared.figures:
        return {}
    modality_ids = dict(session.execute(select(Modality.code, Modality.id)).all())
    rows = []
    for ordinal, fig in enumerate(prepared.figures):
        parsed, image = fig.parsed, fig.primary
        rows.append(fit_row(Figure, dict(
                article_id=article_id,
                ordinal=ordinal,
                jats_id=parsed.jats_id,
                label=parsed.label,
                caption_title=parsed.caption_title,
                caption_text=parsed.caption_text or "",
                caption_xml=parsed.caption_xml,
                context=parsed.context,
                graphic_href=parsed.graphic_hrefs[0] if parsed.graphic_hrefs else None,
                graphics=clean_json([
                    {k: v for k, v in img.__dict__.items() if v is not None} for img in fig.images
                ]),
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
                modalities=fig.modalities,
            ), fitted, f"figure {ordinal + 1}"))
    ids = session.execute(
        insert(Figure).returning(Figure.id, sort_by_parameter_order=True), rows
    ).scalars().all()
    by_jats_id = {}
    for fig, row_id in zip(prepared.figures, ids):
        if fig.parsed.jats_id and fig.parsed.jats_id not in by_jats_id:
            by_jats_id[fig.parsed.jats_id] = row_id
    subcaptions = [
        fit_row(Subcaption, dict(figure_id=row_id, ordinal=i, label=sub.label, text=sub.text, full_text=sub.full_text,
                                 flag="unaligned"), fitted, "subcaption")
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
    session: Session, article_id: int, prepared: PreparedArticle, figure_ids: dict[str, int], fitted: list[str]
) -> None:
    citances = prepared.parsed.citances
    if not citances:
        return
    rows = [
        fit_row(Citance, dict(
            article_id=article_id,
            ordinal=ordinal,
            text=c.text,
            section=c.section,
            panels=c.panels,
            xref_texts=clean_json(c.xref_texts),
        ), fitted, "citance")
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
            targets.append(fit_row(CitanceFigure, dict(citance_id=citance_id, figure_id=figure_id, panels=panels),
                                   fitted, "citance"))
    if targets:
        session.execute(insert(CitanceFigure), targets)


def count_rows(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0
