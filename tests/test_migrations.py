"""The Alembic migrations build exactly the schema the models describe, and downgrade cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from store.migrate import current_revision, downgrade, upgrade
from store.models import Base


def test_migrations_match_models(pg_url):
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_and_upgrade_again(pg_url):
    head = current_revision(pg_url)
    downgrade(pg_url, "base")
    engine = create_engine(pg_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(pg_url)
    assert current_revision(pg_url) == head
