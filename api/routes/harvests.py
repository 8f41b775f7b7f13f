"""POST /harvests (202, runs in the background), GET /harvests/{id} (progress). API key required."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from api import queries
from api.deps import MAX_ID, ApiKeyDep, SessionDep, SettingsDep
from api.jobs import start_harvest
from api.problems import Problem, problem_responses
from api.schemas import HarvestAccepted, HarvestError, HarvestRequest, HarvestStatus
from store.db import session_factory
from store.runs import STORED, run_counts

router = APIRouter(tags=["harvests"], responses=problem_responses(401, 403, 422))


@router.post("/harvests", status_code=202, response_model=HarvestAccepted,
             summary="Start a harvest (the options of `figmine harvest`, detection and concepts included)")
def create_harvest(request: Request, body: HarvestRequest, key: ApiKeyDep, settings: SettingsDep):
    run_id = start_harvest(body, settings, session_factory(), request.app.state.jobs)
    url = f"{request.scope.get('root_path', '')}/harvests/{run_id}"
    return JSONResponse({"id": run_id, "status": "running", "url": url}, status_code=202, headers={"Location": url})


@router.get("/harvests/{run_id}", response_model=HarvestStatus, responses=problem_responses(404),
            summary="Progress of a harvest: counts and the latest errors")
def get_harvest(session: SessionDep, key: ApiKeyDep, run_id: Annotated[int, Path(ge=1, le=MAX_ID)]):
    found = queries.get_harvest(session, run_id)
    if found is None:
        raise Problem(404, f"no harvest run {run_id}")
    run, errors = found
    # the run row is written every few seconds; the item rows are live
    counts = run_counts(session, [run_id])[run_id].items
    done = max(run.done, sum(counts.get(s, 0) for s in STORED))
    skipped = max(run.skipped, counts.get("skipped", 0) + counts.get("conflict", 0))
    failed = max(run.failed, counts.get("failed", 0))
    return HarvestStatus(
        id=run.id, status=run.status, started_at=run.started_at, finished_at=run.finished_at,
        params=run.params or {}, total=run.total, done=done, skipped=skipped, failed=failed,
        processed=done + skipped + failed, error=run.error,
        partial=max(run.partial, counts.get("partial", 0)), replaced=max(run.replaced, counts.get("replaced", 0)),
        conflict=max(run.conflict, counts.get("conflict", 0)),
        recent_errors=[HarvestError(item=e.item, status=e.status, reason=e.reason, created_at=e.created_at)
                       for e in errors],
    )
