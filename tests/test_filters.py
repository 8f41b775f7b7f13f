"""Figure filters against real ingested articles in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from figmine.cli import app
from store.filters import FigureFilter, filtered_figures, license_codes
from store.models import Figure

FIXTURES = Path(__file__).parent / "fixtures"


def count(session: Session, f: FigureFilter) -> int:
    return session.scalar(select(func.count()).select_from(filtered_figures(f).subquery()))


def test_filters_on_real_articles(figmine_env):
    CliRunner().invoke(app, ["ingest", str(FIXTURES / "packages"), str(FIXTURES / "nxml")], catch_exceptions=False)
    engine = create_engine(figmine_env["url"])
    with Session(engine) as s:
        everything = count(s, FigureFilter())
        assert everything == s.scalar(select(func.count()).select_from(Figure))
        some = count(s, FigureFilter(q="heatmap OR electrophoresis"))
        assert 0 < some < everything
        assert count(s, FigureFilter(q="zzzznotaword")) == 0
        assert count(s, FigureFilter(license=["commercial"])) == everything  # the fixtures are CC BY / CC0 / PD
        assert count(s, FigureFilter(license=["CC BY-NC"])) == 0
        assert count(s, FigureFilter(year_from=2020)) + count(s, FigureFilter(year_to=2019)) <= everything
        assert 0 < count(s, FigureFilter(has_citances=True)) <= everything
        assert count(s, FigureFilter(min_width=100)) == s.scalar(select(func.count()).where(Figure.width >= 100))
        assert count(s, FigureFilter(pmcid=["PMC2924383"])) == 4
        assert count(s, FigureFilter(journal=["plos one"])) > 0
        # caption work at ingest: every captioned figure has a modality, charts are the commonest
        charts = count(s, FigureFilter(modality=["graphics"]))
        assert 0 < charts < everything
        assert count(s, FigureFilter(modality=["graphics.chart"])) <= charts
        assert count(s, FigureFilter(q="heatmap")) > 0
    engine.dispose()


def test_licence_groups():
    assert "CC BY" in license_codes(["commercial"]) and "CC BY-NC" not in license_codes(["commercial"])
    assert {"CC BY", "CC BY-NC-ND"} <= license_codes(["noncommercial"])
    assert license_codes(["cc-by-nc"]) == {"CC BY-NC"}
