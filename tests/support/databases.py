"""Fresh, empty databases on the test server, and the embedded server's processes, for tests that need
their own (migrations from nothing, several figmine processes on one database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database with no schema at all (a SQLAlchemy URL), dropped afterwards."""
    from store.db import to_sqlalchemy_url

    admin_url = to_sqlalchemy_url(os.environ.get("DATABASE_URL") or DEFAULT_ADMIN_URL)
    name = f"figmine_fresh_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def embedded_env(home: Path) -> dict[str, str]:
    """The environment of a figmine process on the embedded server of `home` (DATABASE_URL unset)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["FIGMINE_HOME"] = str(home)
    return env


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Live postgres server processes started on this data folder (`postgres -D <pgdata>`)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and proc.info["status"] != psutil.STATUS_ZOMBIE and str(pgdata) in cmdline:
            found.append(proc)
    return found
