"""The corpus the API and browse-page tests read: the real fixtures ingested into a clean database,
then given (by the test module's `enrich`) what detection and caption work would add."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def truncate_all(url: str) -> None:
    """Empty every table but Alembic's (module-scoped corpora share the session's database)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        ).scalars().all()
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@contextmanager
def ingested_corpus(pg_url: str, home: Path, enrich: Callable[[Session], dict], *,
                    ingest_options: tuple[str, ...] = ("--no-detect",)) -> Iterator[dict]:
    """Ingest tests/fixtures (packages + JATS) with `figmine ingest`, run `enrich` in one transaction;
    yields its dict plus the `engine`. Settings point at `pg_url` and `home` while it is open."""
    from figmine.cli import app as cli_app
    from store import db

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", pg_url)
        mp.setenv("FIGMINE_HOME", str(home))
        mp.setenv("FIGMINE_USE_EUROPEPMC", "false")
        for name in ("FIGMINE_BLOB_URL", "FIGMINE_API_READ_OPEN", "FIGMINE_CORS_ORIGINS"):
            mp.delenv(name, raising=False)
        db.reset_caches()
        truncate_all(pg_url)
        result = CliRunner().invoke(
            cli_app, ["ingest", *ingest_options, str(FIXTURES / "packages"), str(FIXTURES / "nxml")],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        engine = create_engine(pg_url)
        with Session(engine) as session, session.begin():
            info = enrich(session)
        info["engine"] = engine
        try:
            yield info
        finally:
            engine.dispose()
            db.reset_caches()
