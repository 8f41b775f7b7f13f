"""FastAPI dependencies: the database session, settings, API-key checks, listing and filter parameters."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from api.keys import KeyInfo, verify_api_key
from api.pagination import decode_cursor, query_hash
from api.problems import Problem
from api.schemas import SafeStr
from figmine.settings import Settings
from store.db import session_factory
from store.filters import FigureFilter

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_VALUES = 100  # values of one repeated filter parameter
MAX_INT = 2**31 - 1
MAX_ID = 2**63 - 1
_CAP_LOCK = threading.Lock()


def _configure_connections(engine, timeout_ms: int) -> None:
    """Once per engine: every new connection gets the API's session settings (see _api_session_settings)."""
    if engine.__dict__.get("_figmine_api_settings") is not None:
        return
    with _CAP_LOCK:
        if engine.__dict__.get("_figmine_api_settings") is None:
            _listen_connect(engine, timeout_ms)


def _listen_connect(engine, timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _api_session_settings(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            # one runaway search cannot hold a worker for long
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", (str(max(0, int(timeout_ms))),))
            # JIT compiles for hundreds of milliseconds on queries whose estimated cost is high but that
            # run in a few (ranked search with EXISTS sub-plans): never worth it for API requests
            cursor.execute("SET jit = off")
            # the filters are skewed (one journal, a licence, a year range): a generic plan of a prepared
            # listing, which PostgreSQL adopts after five runs, can be 20x slower than a custom one
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()

    engine.pool.dispose()  # connections opened before the listener get the settings on reconnect
    engine.__dict__["_figmine_api_settings"] = timeout_ms


def read_sessions() -> sessionmaker[Session]:
    """Sessions for answering requests: the one engine and pool of `store.db`, in autocommit mode.

    A request's reads need no transaction of their own, and autocommit saves the BEGIN and ROLLBACK
    round trips of every request (a third of a small listing's time on a busy machine). A session that
    writes (an API key's last use) commits each statement as it goes.
    """
    engine = session_factory().kw["bind"]
    factory = engine.__dict__.get("_figmine_read_sessions")
    if factory is None:
        factory = sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        engine.__dict__["_figmine_read_sessions"] = factory
    return factory


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for one request. Async on purpose: FastAPI runs sync dependencies on the thread pool,
    one hop each; making a session does no I/O (the connection is taken at the first query, on the
    route's thread), and routes close it there when done, so the close here is usually a no-op."""
    factory = read_sessions()
    _configure_connections(factory.kw["bind"], request.app.state.settings.api_statement_timeout_ms)
    session = factory()
    try:
        yield session
    finally:
        session.close()


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A key from `figmine apikey create NAME`"
)


def require_api_key(session: SessionDep, token: Annotated[str | None, Security(api_key_header)]) -> KeyInfo:
    if not token:
        raise Problem(
            401, "this endpoint needs an API key in the X-API-Key header",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )
    key = verify_api_key(session, token)
    if key is None:
        raise Problem(403, "the API key is unknown or has been revoked")
    session.commit()  # keeps last_used_at
    return key


ApiKeyDep = Annotated[KeyInfo, Depends(require_api_key)]


def optional_api_key(session: SessionDep, token: Annotated[str | None, Security(api_key_header)]) -> KeyInfo | None:
    """The key when one is sent (403 when it is wrong); None without one: the route decides."""
    return require_api_key(session, token) if token else None


OptionalApiKeyDep = Annotated[KeyInfo | None, Depends(optional_api_key)]


def check_text_length(value: str | None, settings: Settings, name: str) -> str | None:
    if value is not None and len(value) > settings.max_query_length:
        raise Problem(
            422, f"{name} is {len(value)} characters long; the limit is {settings.max_query_length}",
            title="Query too long",
        )
    return value


# -- listing parameters ------------------------------------------------------------------------
@dataclass
class PageParams:
    limit: int
    cursor: str | None
    total: bool

    def after(self, kind: str, params, *, ranked: bool) -> tuple | None:
        if self.cursor is None:
            return None
        return decode_cursor(self.cursor, query_hash(kind, params), ranked=ranked)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT})")] = DEFAULT_LIMIT,
    cursor: Annotated[SafeStr | None, Query(max_length=512, description="`next_cursor` of the previous page")] = None,
    total: Annotated[bool, Query(description="Also count all matches (costs a second query)")] = False,
) -> PageParams:
    return PageParams(limit, cursor or None, total)


PageDep = Annotated[PageParams, Depends(page_params)]

async def figure_filter(
    settings: SettingsDep,
    q: Annotated[SafeStr | None, Query(
        description="Full text over captions, subcaptions and citances (web search syntax: quotes, OR, -word); "
                    "results are ranked by relevance")] = None,
    modality: Annotated[list[SafeStr], Query(max_length=MAX_VALUES, description="Modality code; a parent matches its children")] = [],  # noqa: B006
    concept: Annotated[list[SafeStr], Query(max_length=MAX_VALUES, description="Concept code (D006528) or exact name")] = [],  # noqa: B006
    license: Annotated[list[SafeStr], Query(max_length=MAX_VALUES, description="commercial, noncommercial or licence codes (CC BY)")] = [],  # noqa: B006
    year_from: Annotated[int | None, Query(ge=0, le=9999)] = None,
    year_to: Annotated[int | None, Query(ge=0, le=9999)] = None,
    journal: Annotated[list[SafeStr], Query(max_length=MAX_VALUES, description="Journal title (case-insensitive)")] = [],  # noqa: B006
    pmcid: Annotated[list[SafeStr], Query(max_length=MAX_VALUES)] = [],  # noqa: B006
    compound: Annotated[bool | None, Query(description="Compound (multi-panel) figures only, or single ones")] = None,
    min_panels: Annotated[int | None, Query(ge=0, le=32767)] = None,
    has_citances: Annotated[bool | None, Query()] = None,
    min_width: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    min_height: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    include_retracted: Annotated[bool, Query(description="Include figures of retracted articles")] = False,
) -> FigureFilter:
    check_text_length(q, settings, "q")
    return FigureFilter(
        q=(q.strip() or None) if q is not None else None,
        modality=[m for m in modality if m.strip()],
        concept=[c for c in concept if c.strip()],
        license=[x for x in license if x.strip()],
        year_from=year_from,
        year_to=year_to,
        journal=[j for j in journal if j.strip()],
        pmcid=[p.strip() for p in pmcid if p.strip()],
        compound=compound,
        min_panels=min_panels,
        has_citances=has_citances,
        min_width=min_width,
        min_height=min_height,
        include_retracted=include_retracted,
    )


FilterDep = Annotated[FigureFilter, Depends(figure_filter)]


def read_access(request: Request, token: Annotated[str | None, Security(api_key_header)] = None) -> None:
    """Installed on the read routers only when FIGMINE_API_READ_OPEN is false."""
    if not token:
        raise Problem(401, "reads need an API key in the X-API-Key header on this server",
                      headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
    session = session_factory()()
    try:
        if verify_api_key(session, token) is None:
            raise Problem(403, "the API key is unknown or has been revoked")
        session.commit()
    finally:
        session.close()
