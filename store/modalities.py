"""Seed the modality taxonomy (captions.modality) into the `modalities` table, idempotently."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from captions.modality import taxonomy
from store.models import Modality


def ensure_taxonomy(session: Session) -> dict[str, int]:
    """Insert missing taxonomy codes (parents first) and return code → id."""
    ids = dict(session.execute(select(Modality.code, Modality.id)).all())
    for entry in taxonomy():
        if entry.code in ids:
            continue
        stmt = insert(Modality).values(
            code=entry.code, name=entry.name, cui=entry.cui, parent_id=ids.get(entry.parent) if entry.parent else None
        ).on_conflict_do_nothing(index_elements=["code"])
        session.execute(stmt)
        ids[entry.code] = session.scalar(select(Modality.id).where(Modality.code == entry.code))
    return ids
