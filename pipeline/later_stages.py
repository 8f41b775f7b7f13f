"""The stages after store, for the figures still pending: detect (panels) → captions (concepts, panel
modalities, panel citances). What `figmine ingest`, `figmine harvest` and `POST /harvests` run after
their articles are stored when no Celery workers do it (with a broker, the workers' `detect` and
`captions` queues run the same functions, `workers.stages`).

Both stages only touch what is pending (a figure with an image not yet detected, a figure not yet
annotated), so running them again, or after a run that stored nothing new, does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from store.blobs import BlobStore

# (stage name, figures pending) → a context whose value is called with the stage's summary as it goes
Progress = Callable[[str, int], AbstractContextManager[Callable[[object], None]]]


def _no_progress(_name: str, _total: int) -> AbstractContextManager[Callable[[object], None]]:
    return nullcontext(lambda _summary: None)


def run_later_stages(sessions: sessionmaker[Session], blobs: BlobStore, *, detect: bool, concepts: bool,
                     progress: Progress | None = None) -> dict[str, object]:
    """Detection, then the caption stage (each when asked for); their summaries by stage name."""
    progress = progress or _no_progress
    done: dict[str, object] = {}
    if detect:
        from pipeline.detect_stage import detect_pending
        from store.models import Figure
        from subfigure_detector.detect import Detector

        with sessions() as session:
            pending = session.scalar(
                select(func.count()).where(Figure.image_key.is_not(None), Figure.detected_at.is_(None)))
        if pending:
            with progress("detect", pending) as update:
                done["detect"] = detect_pending(sessions, blobs, Detector(), on_progress=update)
    if concepts:
        from pipeline.caption_stage import annotate_pending, pending_condition

        with sessions() as session:
            pending = session.scalar(select(func.count()).where(pending_condition()))
        if pending:
            with progress("captions", pending) as update:
                done["captions"] = annotate_pending(sessions, blobs, on_progress=update)
    return done
