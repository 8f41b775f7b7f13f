"""Detection as a pipeline stage: every ingested figure with an image gets its panels stored, and
subcaptions are aligned with panels by label letter (or reading order)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from figmine.cli import app
from pipeline.detect_stage import align

FIXTURES = Path(__file__).parent / "fixtures"


def test_align_by_letter_then_by_order():
    assert align(["A", "B", "C"], ["B", "A"]) == {0: 1, 1: 0}
    assert align([None, None], ["A", "B"]) == {0: 0, 1: 1}
    assert align([None, None, None], ["A", "B"]) == {}
    assert align(["A"], ["left", "right"]) == {}


def test_ingest_detects_panels_and_export_lists_them(figmine_env, tmp_path):
    url = figmine_env["url"]
    packages = [str(p) for p in sorted((FIXTURES / "packages").glob("*.tar.gz"))]
    result = CliRunner().invoke(app, ["ingest", *packages], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM figures WHERE image_key IS NOT NULL "
                                    "AND detected_at IS NULL")).scalar()
        assert pending == 0, "every figure with an image went through detection"
        rows = conn.execute(text("SELECT f.id, f.width, f.height, s.x1, s.y1, s.x2, s.y2, s.method "
                                 "FROM subfigures s JOIN figures f ON f.id = s.figure_id")).all()
        assert rows, "no panel stored"
        for row in rows:
            assert 0 <= row.x1 < row.x2 <= row.width and 0 <= row.y1 < row.y2 <= row.height, row
            assert row.method in {"yolo", "xycut", "whole"}
        assert conn.execute(text("SELECT count(*) FROM figures WHERE is_compound")).scalar() >= 1
    engine.dispose()

    out = tmp_path / "figs.jsonl"
    CliRunner().invoke(app, ["export", "--format", "jsonl", "--out", str(out), "--no-images"], catch_exceptions=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    with_panels = [r for r in records if r["subfigures"]]
    assert with_panels
    for panel in with_panels[0]["subfigures"]:
        assert {"box", "label", "score"} <= panel.keys() and len(panel["box"]) == 4


def test_detect_pending_scoped_to_articles_or_figures_touches_only_those(figmine_env):
    """What a worker's detect task relies on: a scope, and nothing done twice."""
    from pipeline.detect_stage import detect_pending
    from store.blobs import open_blob_store
    from store.db import session_factory
    from subfigure_detector.detect import Detector

    from figmine.settings import get_settings

    url = figmine_env["url"]
    packages = [str(p) for p in sorted((FIXTURES / "packages").glob("*.tar.gz"))]
    result = CliRunner().invoke(app, ["ingest", "--no-detect", *packages], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        per_article = dict(conn.execute(text("SELECT article_id, count(*) FROM figures WHERE image_key IS NOT NULL "
                                             "GROUP BY article_id ORDER BY article_id")).all())
        one_figure = conn.execute(text("SELECT min(id) FROM figures WHERE image_key IS NOT NULL")).scalar()
    first, *others = per_article
    sessions, blobs, detector = session_factory(), open_blob_store(get_settings().blob_location), Detector()

    summary = detect_pending(sessions, blobs, detector, article_ids=[first])
    assert summary.figures == per_article[first]
    summary = detect_pending(sessions, blobs, detector, figure_ids=[one_figure])
    assert summary.figures == 0, "a figure already detected is not detected again"
    with engine.connect() as conn:
        detected = dict(conn.execute(text("SELECT article_id, count(*) FROM figures WHERE detected_at IS NOT NULL "
                                          "GROUP BY article_id")).all())
    assert detected == {first: per_article[first]}, "only the scoped article's figures were detected"

    with engine.connect() as conn:
        other_figure = conn.execute(text("SELECT min(id) FROM figures WHERE image_key IS NOT NULL "
                                         f"AND article_id = {others[0]}")).scalar()
    assert detect_pending(sessions, blobs, detector, figure_ids=[other_figure]).figures == 1
    assert detect_pending(sessions, blobs, detector, article_ids=others).figures == sum(per_article[a] for a in others) - 1
    assert detect_pending(sessions, blobs, detector).figures == 0
    engine.dispose()
