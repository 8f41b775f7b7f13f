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


def test_0005_keeps_one_row_per_panel_of_duplicates_stored_before_it(tmp_path, monkeypatch):
    """What two detectors racing on the same figures left before 0005 (every panel stored twice, the
    subcaptions and panel citances tied to the second copies) is folded into one row per panel."""
    from pathlib import Path

    from sqlalchemy import text
    from typer.testing import CliRunner

    from figmine.cli import app
    from store import db
    from support.databases import fresh_database
    from support.sql import rows

    packages = sorted((Path(__file__).parent / "fixtures" / "packages").glob("*.tar.gz"))
    with fresh_database() as url:
        upgrade(url)
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("FIGMINE_HOME", str(tmp_path))
        db.reset_caches()
        result = CliRunner().invoke(app, ["ingest", "--no-concepts", *map(str, packages)], catch_exceptions=False)
        db.reset_caches()
        assert result.exit_code == 0, result.output
        downgrade(url, "0004")

        panels = {(r.figure_id, r.ordinal): r for r in rows(url, "SELECT * FROM subfigures")}
        aligned = dict(rows(url, "SELECT s.id, (p.figure_id, p.ordinal)::text FROM subcaptions s "
                                 "JOIN subfigures p ON p.id = s.subfigure_id"))
        cited = rows(url, "SELECT c.citance_id, c.figure_id FROM citance_figures c "
                          "JOIN figures f ON f.id = c.figure_id WHERE f.n_panels > 0")
        assert len(panels) >= 10 and aligned and cited, "the fixtures have panels, aligned subcaptions, citances"
        engine = create_engine(url)
        columns = [c["name"] for c in inspect(engine).get_columns("subfigures") if c["name"] != "id"]
        listed = ", ".join(columns)
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO subfigures ({listed}) SELECT {listed} FROM subfigures ORDER BY id"))
            copy = "(SELECT max(id) FROM subfigures d WHERE d.figure_id = p.figure_id AND d.ordinal = p.ordinal)"
            conn.execute(text(f"UPDATE subcaptions s SET subfigure_id = {copy} FROM subfigures p "
                              "WHERE p.id = s.subfigure_id"))
            conn.execute(text("INSERT INTO citance_subfigures (citance_id, subfigure_id) "
                              "SELECT c.citance_id, max(p.id) FROM citance_figures c "
                              "JOIN subfigures p ON p.figure_id = c.figure_id GROUP BY c.citance_id, p.figure_id"))
        engine.dispose()
        assert len(rows(url, "SELECT id FROM subfigures")) == 2 * len(panels)
        panel_links = ("SELECT c.citance_id, p.figure_id, p.ordinal FROM citance_subfigures c "
                       "JOIN subfigures p ON p.id = c.subfigure_id")
        links = set(rows(url, panel_links))
        assert len(links) == len(set(cited))

        upgrade(url)

        after = {(r.figure_id, r.ordinal): r for r in rows(url, "SELECT * FROM subfigures")}
        assert len(rows(url, "SELECT id FROM subfigures")) == len(panels), "one row per figure and ordinal"
        assert after == panels, "the rows kept are the first ones stored (lowest id), unchanged"
        assert dict(rows(url, "SELECT s.id, (p.figure_id, p.ordinal)::text FROM subcaptions s "
                              "JOIN subfigures p ON p.id = s.subfigure_id")) == aligned, \
            "the subcaptions stay aligned with the same panels"
        assert set(rows(url, panel_links)) == links, "each panel citance kept, on the copy of its panel that stays"
        engine = create_engine(url)
        uniques = inspect(engine).get_unique_constraints("subfigures")
        engine.dispose()
        assert {"name": "uq_subfigures_figure_ordinal", "column_names": ["figure_id", "ordinal"]} in [
            {k: u[k] for k in ("name", "column_names")} for u in uniques]


def test_0006_gives_articles_with_a_pmid_and_no_pmcid_the_pmid_key():
    """Before the identity rule put the PMID before the DOI, such articles were stored under their DOI (or
    a content hash): 0006 re-keys them, so the next ingest of the same article finds it."""
    from sqlalchemy import text

    from support.databases import fresh_database
    from support.sql import rows

    with fresh_database() as url:
        upgrade(url, "0005")
        engine = create_engine(url)
        with engine.begin() as conn:
            for key, pmcid, pmid in [("doi:10.1/a", None, "123"), ("sha256:ff", None, "456"),
                                     ("PMC9", "PMC9", "789"), ("doi:10.1/b", None, None)]:
                conn.execute(text("INSERT INTO articles (article_key, pmcid, pmid, source, xml_sha256, content_hash) "
                                  "VALUES (:k, :c, :p, 'xml', 'x', 'y')"), {"k": key, "c": pmcid, "p": pmid})
        engine.dispose()
        upgrade(url)
        keys = sorted(r.article_key for r in rows(url, "SELECT article_key FROM articles"))
        assert keys == ["PMC9", "doi:10.1/b", "pmid:123", "pmid:456"]
