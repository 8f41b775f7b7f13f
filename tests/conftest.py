"""Shared fixtures: a real PostgreSQL database per test session, emptied before each test that asks.

`DATABASE_URL` (the machine's server in CI) is used as the admin connection: a fresh database is
created for the session and dropped at the end. The embedded-server path has its own test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import figmine  # noqa: F401  (ONNX Runtime's telemetry off in the test process too, before a test imports pymupdf)

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    from store.db import to_sqlalchemy_url

    return to_sqlalchemy_url(os.environ.get("DATABASE_URL") or DEFAULT_ADMIN_URL)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A new, migrated database on the configured server for this test session."""
    from store.migrate import upgrade

    admin_url = _admin_url()
    name = f"figmine_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"cannot create a test database on {make_url(admin_url).render_as_string()}: {exc}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def figmine_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Point figmine's settings at the test database and a fresh home/blob folder; empty all tables."""
    from store import db

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("FIGMINE_HOME", str(home))
    monkeypatch.delenv("FIGMINE_BLOB_URL", raising=False)
    monkeypatch.setenv("FIGMINE_USE_EUROPEPMC", "false")
    db.reset_caches()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        ).scalars().all()
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield {"url": pg_url, "home": home, "env": {**os.environ}}
    db.reset_caches()
