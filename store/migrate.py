"""Run the Alembic migrations in `migrations/` (`figmine db upgrade`).

Every command migrates on start (`figmine.cli._ensure_schema`), so two commands started together on
a fresh database would both run CREATE TABLE, and one would fail. Migrations therefore run inside a
transaction that first takes a PostgreSQL advisory lock: the second command waits, and when the lock
is released (at the first one's commit) it reads the version table again and finds the schema at head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any bigint both sides agree on; this one is b"figmigr\x00" read as a number.
MIGRATION_LOCK_ID = int.from_bytes(b"figmigr\x00", "big")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _run_locked(url: str, run) -> None:
    """`run(config)` on one connection, in one transaction, under the migration advisory lock
    (migrations/env.py runs on the connection it finds in `config.attributes`)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            # transaction-scoped: released by the commit that makes the new schema visible
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            run(cfg)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    _run_locked(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str) -> None:
    _run_locked(url, lambda cfg: command.downgrade(cfg, revision))


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
