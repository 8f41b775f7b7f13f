"""GET /healthz (the process answers), /readyz (the database answers), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.problems import Problem, problem_responses
from store.db import session_factory

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict:
    return {"status": "ok"}


def _ping() -> None:
    with session_factory()() as session:
        session.execute(text("SELECT 1"))


@router.get("/readyz", summary="Readiness: the database is reachable", responses=problem_responses(503))
async def readyz():
    try:
        await run_in_threadpool(_ping)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        raise Problem(503, f"database unreachable: {type(exc).__name__}", title="Not ready") from exc
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
