"""The detection stage: split stored figures into panels and align them with their subcaptions.

Runs after figures are stored (ingest speed does not wait on it) over every figure that has an image
and no detection yet, a batch at a time, one transaction per batch. Panels are paired with subcaptions
by the label letters the detector read; where letters are missing, by reading order when the counts
agree; otherwise the subcaptions stay unaligned (their flag says so).

`article_ids` / `figure_ids` scope a call to those figures (a worker's task handles exactly the
articles it was sent); a figure already detected is never detected again, so a task run twice does
nothing the second time.

Detectors running at the same time (two `figmine ingest`, several workers) share the work: a batch's
figure rows stay locked from the moment they are picked until their panels are committed, and
another detector passes over locked rows (`SKIP LOCKED`), so no figure's panels are stored twice (the
unique key on figure and ordinal would refuse that anyway). Only when every pending figure is locked
does a detector wait for the locks; what is still pending then (rows the caption stage had locked)
it takes, so no figure is left behind by both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from figmine.panel_labels import panel_key
from store.blobs import BlobStore
from store.models import Figure, Subcaption, Subfigure

log = logging.getLogger(__name__)


@dataclass
class DetectSummary:
    figures: int = 0
    panels: int = 0
    compound: int = 0
    errors: int = 0
    aligned: int = 0


def align(panel_labels: list[str | None], sub_labels: list[str | None]) -> dict[int, int]:
    """subcaption index → panel index: by label (`panel_key`: "B'" read meets "B′" printed), else by reading order when the counts agree."""
    by_label = {panel_key(label): i for i, label in enumerate(panel_labels) if panel_key(label)}
    pairs = {j: by_label[panel_key(label)] for j, label in enumerate(sub_labels) if panel_key(label) in by_label}
    if pairs:
        return pairs
    if len(panel_labels) == len(sub_labels) and len(panel_labels) > 1:
        return {j: j for j in range(len(sub_labels))}
    return {}


def detect_pending(
    sessions: sessionmaker[Session],
    blobs: BlobStore,
    detector,
    *,
    batch_size: int = 16,
    limit: int | None = None,
    on_progress: Callable[[DetectSummary], None] | None = None,
    article_ids: list[int] | None = None,
    figure_ids: list[int] | None = None,
) -> DetectSummary:
    summary = DetectSummary()
    scope = pending_figures(article_ids=article_ids, figure_ids=figure_ids)
    while limit is None or summary.figures < limit:
        size = batch_size if limit is None else min(batch_size, limit - summary.figures)
        pick = select(Figure.id, Figure.image_key).where(*scope).order_by(Figure.id).limit(size)
        with sessions.begin() as session:  # the batch's rows stay locked until its panels are committed
            rows = (session.execute(pick.with_for_update(of=Figure, skip_locked=True)).all()
                    or session.execute(pick.with_for_update(of=Figure)).all())
            if not rows:
                break
            images: list[bytes | None] = []
            for row in rows:
                try:
                    images.append(blobs.open(row.image_key))
                except Exception as exc:  # noqa: BLE001 - a missing blob costs only its figure
                    log.warning("figure %s: image blob unreadable: %s", row.id, exc)
                    images.append(None)
            readable = [img for img in images if img is not None]
            detections = iter(detector.detect(readable)) if readable else iter(())
            for row, image in zip(rows, images):
                detection = next(detections) if image is not None else None
                _store(session, row.id, detection, summary)
        if on_progress:
            on_progress(summary)
    return summary


def pending_figures(*, article_ids: list[int] | None = None, figure_ids: list[int] | None = None) -> list:
    """WHERE clauses: figures with an image and no detection yet, optionally of these articles / figures."""
    clauses = [Figure.image_key.is_not(None), Figure.detected_at.is_(None)]
    if article_ids is not None:
        clauses.append(Figure.article_id.in_(list(article_ids)))
    if figure_ids is not None:
        clauses.append(Figure.id.in_(list(figure_ids)))
    return clauses


def _store(session: Session, figure_id: int, detection, summary: DetectSummary) -> None:
    now = datetime.now(timezone.utc)
    summary.figures += 1
    session.execute(delete(Subfigure).where(Subfigure.figure_id == figure_id))
    if detection is None or detection.error:
        summary.errors += 1
        session.execute(update(Figure).where(Figure.id == figure_id).values(detected_at=now, n_panels=0))
        return
    panels = detection.panels
    ids = session.execute(
        insert(Subfigure).returning(Subfigure.id, sort_by_parameter_order=True),
        [
            dict(
                figure_id=figure_id, ordinal=i, x1=int(p.box[0]), y1=int(p.box[1]), x2=int(p.box[2]), y2=int(p.box[3]),
                score=float(p.score), method=p.method, label=p.label,
                label_box=[int(v) for v in p.label_box] if p.label_box else None,
                label_score=float(p.label_score) if p.label_score is not None else None,
            )
            for i, p in enumerate(panels)
        ],
    ).scalars().all() if panels else []
    summary.panels += len(panels)
    summary.compound += len(panels) > 1
    session.execute(
        update(Figure).where(Figure.id == figure_id).values(detected_at=now, n_panels=len(panels),
                                                            is_compound=len(panels) > 1)
    )
    subs = session.execute(
        select(Subcaption.id, Subcaption.label).where(Subcaption.figure_id == figure_id).order_by(Subcaption.ordinal)
    ).all()
    if not subs or not ids:
        return
    pairs = align([p.label for p in panels], [s.label for s in subs])
    for j, sub in enumerate(subs):
        if j in pairs:
            session.execute(update(Subcaption).where(Subcaption.id == sub.id)
                            .values(subfigure_id=ids[pairs[j]], flag="aligned"))
            summary.aligned += 1
        else:
            session.execute(update(Subcaption).where(Subcaption.id == sub.id).values(flag="unaligned"))
