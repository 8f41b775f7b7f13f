"""A throw-away PostgreSQL database for one bench run, migrated to head, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from store.db import to_sqlalchemy_url
from store.migrate import upgrade


def _admin(admin_url: str):
    return create_engine(to_sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")


def create_database(admin_url: str, prefix: str = "figmine_bench") -> str:
    """A new empty database next to `admin_url`'s, migrated; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name: nothing user-supplied
    engine.dispose()
    url = make_url(to_sqlalchemy_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


@contextmanager
def scratch_database(admin_url: str, prefix: str = "figmine_bench") -> Iterator[str]:
    url = create_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
