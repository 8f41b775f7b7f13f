"""GET /stats."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from api import queries
from api.deps import SessionDep
from api.problems import problem_responses
from api.schemas import Stats

router = APIRouter(tags=["stats"], responses=problem_responses(401, 403))
STATS_TTL_S = 60.0


@router.get("/stats", response_model=Stats, summary="Corpus counts by modality, licence, year and journal")
def stats(request: Request, session: SessionDep):
    """Cached for a minute per process: on a large corpus these counts are full scans."""
    cached = getattr(request.app.state, "stats_cache", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < STATS_TTL_S:
        return cached[1]
    data = queries.corpus_counts(session)
    request.app.state.stats_cache = (now, data)
    return data
