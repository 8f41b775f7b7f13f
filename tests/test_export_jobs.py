"""Export jobs on the `exports` table: progress while running, the outcome, and clean failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from figmine.cli import app
from store.exporters import ExportError, create_export_job, execute_export_job, export_file, run_export
from store.models import Article, Export, Figure

PACKAGES = Path(__file__).parent / "fixtures" / "packages"


@pytest.fixture
def env(figmine_env):
    assert CliRunner().invoke(app, ["ingest", "--no-detect", str(PACKAGES)], catch_exceptions=False).exit_code == 0
    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory

    return {"factory": session_factory(), "blobs": open_blob_store(get_settings().blob_location),
            "home": figmine_env["home"]}


def _row(factory, export_id: int) -> Export:
    with factory() as s:
        return s.get(Export, export_id)


def test_job_reports_progress_while_running_and_its_outcome(env):
    factory = env["factory"]
    export_id = create_export_job(factory, format="webdataset", splits="0.5/0.5", seed=3, shard_size=4,
                                  dedup="sha256", filter={"license": ["commercial"]})
    queued = _row(factory, export_id)
    assert queued.status == "queued" and queued.params["splits"] == [["train", 0.5], ["validation", 0.5]]
    assert queued.location == str(env["home"].resolve() / "exports" / str(export_id))

    seen = []

    def watch(progress):  # what an API client polling GET /exports/{id} would see now
        row = _row(factory, export_id)
        seen.append((progress.done, row.status, row.done, row.total, dict(row.counts)))

    result = execute_export_job(export_id, on_progress=watch, progress_every=3)
    assert result is not None and result.export_id == export_id
    running = [s for s in seen if s[1] == "running"]
    assert running and all(done == row_done for done, _, row_done, _, _ in running), seen
    assert any(0 < done < total for done, _, _, total, _ in running), "progress shows mid-run"
    assert running[0][4]["splits"].keys() == {"train", "validation"}

    row = _row(factory, export_id)
    assert row.status == "finished" and row.error is None and row.finished_at is not None
    assert row.done == row.total == 10 and row.counts["records"] == 10
    paths = {f["path"] for f in row.files}
    assert "manifest.json" in paths and all((Path(row.location) / p).is_file() for p in paths)
    assert sum(f["records"] for f in row.files if f["kind"] == "shard") == 10
    assert execute_export_job(export_id) is None, "a finished job is not run again"


def _break_a_blob(factory, blobs, ordinal: int) -> str:
    """Delete the blob of one figure in the middle of the export order."""
    with factory() as s:
        keys = s.execute(
            select(Figure.image_key).join(Article).where(Figure.image_key.is_not(None))
            .order_by(Article.article_key, Figure.ordinal)
        ).scalars().all()
    blobs.path(keys[ordinal]).unlink()
    return keys[ordinal]


def test_a_missing_blob_fails_the_job_and_leaves_no_shard(env):
    factory = env["factory"]
    missing = _break_a_blob(factory, env["blobs"], 6)
    export_id = create_export_job(factory, format="webdataset", shard_size=2)
    assert execute_export_job(export_id, progress_every=1) is None
    row = _row(factory, export_id)
    assert row.status == "failed" and row.finished_at is not None
    assert "blob not found" in row.error and missing in row.error, row.error
    assert row.files == [] and row.done == 6, "progress stops at the sample that failed"
    folder = Path(row.location)
    assert not folder.exists() or not list(folder.rglob("*")), f"left behind: {list(folder.rglob('*'))}"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_failure_leaves_nothing_in_other_formats(env, tmp_path, fmt):
    _break_a_blob(env["factory"], env["blobs"], 7)
    out = tmp_path / "export"
    with pytest.raises(ExportError, match="blob not found|vanished"):
        run_export(env["factory"], env["blobs"], out_dir=out, format=fmt, shard_size=2)
    assert not out.exists(), f"left behind: {list(out.rglob('*')) if out.exists() else []}"


def test_bad_parameters_are_refused_before_queueing(env):
    with pytest.raises(ExportError):
        create_export_job(env["factory"], format="webdataset", with_images=False)
    with pytest.raises(ExportError):
        create_export_job(env["factory"], format="jsonl", level="panel")
    with env["factory"]() as s:
        assert s.scalars(select(Export)).all() == []


def test_download_paths_stay_inside_the_export(env, tmp_path):
    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "j", format="jsonl")
    files = [f.to_dict() for f in result.files]
    assert export_file(result.out, files, "all.jsonl") == result.out / "all.jsonl"
    image = next(p.name for p in (result.out / "images").iterdir())
    assert export_file(result.out, files, f"images/{image}").is_file()
    (tmp_path / "secret.txt").write_text("no")
    for bad in ("../secret.txt", "images/../../secret.txt", "images/", "nothing.tar", "/etc/passwd"):
        with pytest.raises(ExportError):
            export_file(result.out, files, bad)
