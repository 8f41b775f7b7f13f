"""The FastAPI application: `create_app()` for tests and ASGI servers, `serve()` for `figmine serve`."""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.exc import OperationalError
from starlette.middleware.cors import CORSMiddleware

from api.deps import read_access
from api.jobs import JobRunner
from api.metrics import ApiMetrics
from api.middleware import RequestContextMiddleware
from api.problems import Problem, install_problem_handlers, problem_response
from api.routes import articles, browse, concepts, exports, figures, harvests, ops, stats, subfigures
from figmine.settings import Settings, get_settings

log = logging.getLogger("figmine.api")

DESCRIPTION = """\
Figures mined from PubMed Central Open Access: articles, figures, panels (subfigures), captions,
subcaptions, citances with panel letters, concepts and modalities.

Listings answer `{"items": [...], "next_cursor": "…" | null, "total": n | null}`; pass `cursor=` to
get the next page, `total=true` to count. Errors are `application/problem+json` (RFC 9457).
Harvests and exports need an `X-API-Key` (`figmine apikey create NAME`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = ApiMetrics()
    jobs = JobRunner(settings.api_job_workers, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        from store.db import session_factory

        try:
            jobs.interrupt_all(session_factory())
        except Exception:  # noqa: BLE001 - shutting down anyway
            log.exception("could not mark running jobs as interrupted")

    app = FastAPI(
        title="figmine",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.jobs = jobs
    from store.blobs import open_blob_store

    app.state.blobs = open_blob_store(settings.blob_location)

    install_problem_handlers(app)

    @app.exception_handler(OperationalError)
    async def _database_error(request, exc: OperationalError):
        if type(getattr(exc, "orig", None)).__name__ == "QueryCanceled":
            problem = Problem(503, "the query took too long; narrow the filters", title="Query timed out",
                              headers={"Retry-After": "5"})
        else:
            log.error("database error: %s", exc)
            problem = Problem(503, "the database is unavailable", title="Database unavailable",
                              headers={"Retry-After": "5"})
        return problem_response(request.scope, problem)

    reads = [] if settings.api_read_open else [Depends(read_access)]
    for router in (articles.router, figures.router, subfigures.router, concepts.router, stats.router):
        app.include_router(router, dependencies=reads)
    app.include_router(harvests.router)
    app.include_router(exports.router)
    app.include_router(ops.router)
    browse.install(app, reads)  # the HTML pages (not in the OpenAPI document)

    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["X-API-Key", "X-Request-ID", "Content-Type", "If-None-Match"],
            expose_headers=["X-Request-ID", "ETag", "Location"],
            max_age=600,
        )
    # outermost: sees every response, CORS preflights included
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def create_logged_app() -> FastAPI:
    """The app with JSON logs set up: the factory each uvicorn worker process calls."""
    from api.json_logs import configure_json_logging

    configure_json_logging(os.environ.get("FIGMINE_LOG_LEVEL", "INFO").upper())
    return create_app()


def serve(host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, log_level: str = "info") -> None:
    """Run the API with uvicorn, logging JSON lines to stderr (what `figmine serve` calls).

    The schema must exist (`figmine db upgrade`). uvicorn uses uvloop and httptools when installed
    (`uvicorn[standard]`): several times the requests per second of the pure-Python defaults.
    """
    import uvicorn

    from store.db import database_url

    # Attach to the embedded server (if that is the database) before uvicorn sets its signal handlers:
    # ours (store.embedded_pg) are the ones uvicorn restores after its graceful shutdown and re-raises
    # SIGTERM/SIGINT to, and they stop the server. With several workers, the supervisor returns
    # normally and its exit stops the server; a worker that died is dropped from the handles.
    database_url()
    os.environ["FIGMINE_LOG_LEVEL"] = log_level
    common = dict(host=host, port=port, log_config=None, access_log=False, proxy_headers=True)
    if workers > 1:
        from api.json_logs import configure_json_logging

        configure_json_logging(log_level.upper())
        uvicorn.run("api.app:create_logged_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_logged_app(), **common)
