"""GET /concepts?prefix= (autocomplete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import queries
from api.deps import SessionDep, SettingsDep, check_text_length
from api.encoding import JsonBody
from api.problems import problem_responses
from api.schemas import ConceptItem, SafeStr

router = APIRouter(tags=["concepts"], responses=problem_responses(401, 403, 422))


@router.get("/concepts", response_model=list[ConceptItem], summary="Concept autocomplete")
def suggest_concepts(
    session: SessionDep,
    settings: SettingsDep,
    prefix: Annotated[SafeStr, Query(min_length=1, description="Start of a concept name or code")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
):
    """Names or codes starting with `prefix` first, then names similar to it (trigrams)."""
    check_text_length(prefix, settings, "prefix")
    rows = queries.suggest_concepts(session, prefix.strip() or prefix, limit=limit)
    session.close()
    return JsonBody([
        {"id": r.id, "vocab": r.vocab, "code": r.code, "name": r.name, "semantic_types": list(r.semantic_types or [])}
        for r in rows
    ])
