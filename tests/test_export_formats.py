"""Exports of real ingested articles in every format, read back with the format's own readers."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from figmine.cli import app
from store.exporters import ExportError, run_export
from store.exporters.manifest import read_manifest
from store.filters import FigureFilter
from store.models import Figure

FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT = {"pmcid", "version", "pmid", "doi", "license", "figure_id", "label", "caption", "image", "width",
            "height", "sha256", "citances", "subfigures", "concepts", "modality"}


@pytest.fixture
def corpus(figmine_env):
    """The three OA packages (10 figures with JPEGs) and the bare JATS files (figures without images)."""
    result = CliRunner().invoke(app, ["ingest", "--no-detect", str(FIXTURES / "packages"), str(FIXTURES / "nxml")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory

    factory = session_factory()
    with factory() as s:
        total = s.scalar(select(func.count(Figure.id)))
        with_images = s.scalar(select(func.count(Figure.id)).where(Figure.image_key.is_not(None)))
    assert with_images == 10 and total > 100, (with_images, total)
    return {"factory": factory, "blobs": open_blob_store(get_settings().blob_location), "total": total,
            "with_images": with_images}


def export(corpus, out: Path, **kwargs):
    return run_export(corpus["factory"], corpus["blobs"], out_dir=out, **kwargs)


def shard_urls(result) -> list[str]:
    return [str(result.out / f.path) for f in result.files if f.kind == "shard"]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.part")]


def test_webdataset_shards_read_back_with_the_webdataset_library(corpus, tmp_path):
    result = export(corpus, tmp_path / "wds", format="webdataset", shard_size=3)
    urls = shard_urls(result)
    assert [Path(u).name for u in urls] == [f"all-{i:06d}.tar" for i in range(4)], "10 samples, 3 per shard"
    raw = list(wds.WebDataset(urls, shardshuffle=False))
    decoded = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(decoded) == 10 and len({s["__key__"] for s in decoded}) == 10
    for plain, sample in zip(raw, decoded):
        meta = sample["json"]
        assert CONTRACT <= meta.keys(), f"missing {CONTRACT - meta.keys()}"
        assert meta["image"] == f"{sample['__key__']}.jpg"
        assert sample["txt"] == meta["caption"]
        assert sample["jpg"].size == (meta["width"], meta["height"]), sample["__key__"]
        # JPEG figures travel byte for byte
        assert hashlib.sha256(plain["jpg"]).hexdigest() == meta["sha256"]
    assert result.counts["records"] == 10
    assert result.counts["skipped"]["no_image"] == corpus["total"] - 10, "figures without image are skipped"
    manifest = read_manifest(result.manifest)
    assert manifest["counts"] == result.counts and manifest["format"] == "webdataset"
    assert [f["path"] for f in manifest["files"]] == [*(Path(u).name for u in urls), "sizes.json", "README.md"]
    assert not leftovers(result.out)


def test_shard_size_in_bytes(corpus, tmp_path):
    result = export(corpus, tmp_path / "wds", format="webdataset", shard_size="400KB")
    shards = [f for f in result.files if f.kind == "shard"]
    assert len(shards) > 2 and sum(f.records for f in shards) == 10
    for shard in shards:
        assert shard.bytes <= 400_000 + 20_480 or shard.records == 1, shard  # + tar end blocks and padding


def test_parquet_with_and_without_image_bytes(corpus, tmp_path):
    result = export(corpus, tmp_path / "pq", format="parquet", shard_size=50)
    files = [result.out / f.path for f in result.files if f.kind == "shard"]
    table = pq.read_table(files[0]).to_pylist() + [r for f in files[1:] for r in pq.read_table(f).to_pylist()]
    assert len(table) == corpus["total"], "parquet keeps figures without images"
    assert len(files) == -(-corpus["total"] // 50)
    with_image = [r for r in table if r["image"] is not None]
    assert len(with_image) == 10
    for row in with_image:
        assert hashlib.sha256(row["image"]).hexdigest() == row["sha256"]
        assert Image.open(io.BytesIO(row["image"])).size == (row["width"], row["height"])
    cited = [c for r in table for c in r["citances"]]
    assert cited and set(cited[0]) == {"text", "section", "panels"}

    light = export(corpus, tmp_path / "pq-light", format="parquet", with_images=False)
    rows = pq.read_table(light.out / light.files[0].path).to_pylist()
    assert len(rows) == corpus["total"] and all(r["image"] is None for r in rows)
    assert light.files[0].bytes < sum(f.bytes for f in result.files if f.kind == "shard") / 2


def test_jsonl_keeps_the_record_contract(corpus, tmp_path):
    result = export(corpus, tmp_path / "figures.jsonl", format="jsonl")
    assert result.out == tmp_path and (tmp_path / "figures.jsonl").is_file()
    assert result.manifest == tmp_path / "figures.manifest.json"
    records = [json.loads(line) for line in (tmp_path / "figures.jsonl").read_text().splitlines()]
    assert len(records) == corpus["total"]
    for record in records:
        assert CONTRACT <= record.keys(), f"missing {CONTRACT - record.keys()}"
        if record["image"]:
            assert not Path(record["image"]).is_absolute() and (tmp_path / record["image"]).is_file()
    assert sum(1 for r in records if r["image"]) == 10


def test_open_clip_csv(corpus, tmp_path):
    result = export(corpus, tmp_path / "clip", format="csv")
    with (result.out / "all.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and set(rows[0]) == {"filepath", "title"}
    for row in rows:
        with Image.open(result.out / row["filepath"]) as image:
            assert image.format == "JPEG"
        assert row["title"] and "\n" not in row["title"]


def test_splits_by_article_are_deterministic_and_do_not_leak(corpus, tmp_path):
    def assignment(out: Path, seed: int):
        result = export(corpus, out, format="jsonl", splits="train=0.5,validation=0.25,test=0.25", seed=seed)
        split_of: dict[str, set[str]] = {}
        for name in ("train", "validation", "test"):
            for line in (out / f"{name}.jsonl").read_text().splitlines():
                record = json.loads(line)
                split_of.setdefault(record["pmcid"] or record["doi"], set()).add(name)
        return result, split_of

    first, split_of = assignment(tmp_path / "a", seed=11)
    leaking = {article: splits for article, splits in split_of.items() if len(splits) > 1}
    assert not leaking, f"articles in more than one split: {leaking}"
    assert sum(s["records"] for s in first.counts["splits"].values()) == corpus["total"]
    assert sum(s["articles"] for s in first.counts["splits"].values()) == len(split_of)
    assert len({next(iter(s)) for s in split_of.values()}) == 3, "19 articles should reach all three splits"

    again, split_again = assignment(tmp_path / "b", seed=11)
    assert split_again == split_of, "the same seed must give the same split of every article"
    counts_a = json.dumps(read_manifest(first.manifest)["counts"], sort_keys=True)
    counts_b = json.dumps(read_manifest(again.manifest)["counts"], sort_keys=True)
    assert counts_a == counts_b
    for name in ("train", "validation", "test"):
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()

    _, other = assignment(tmp_path / "c", seed=12)
    assert other != split_of, "another seed should move some articles"


def test_webdataset_shards_are_reproducible_byte_for_byte(corpus, tmp_path):
    a = export(corpus, tmp_path / "a", format="webdataset", splits="0.5/0.5", seed=1, shard_size=4)
    b = export(corpus, tmp_path / "b", format="webdataset", splits="0.5/0.5", seed=1, shard_size=4)
    assert [f.path for f in a.files] == [f.path for f in b.files]
    for f in a.files:
        if f.kind == "shard":  # the manifests differ only in their times
            assert (a.out / f.path).read_bytes() == (b.out / f.path).read_bytes(), f.path


def test_filter_selects_what_is_exported(corpus, tmp_path):
    result = export(corpus, tmp_path / "one", format="parquet", filter=FigureFilter(pmcid=["PMC2924383"]))
    rows = pq.read_table(result.out / result.files[0].path).to_pylist()
    assert {r["pmcid"] for r in rows} == {"PMC2924383"} and len(rows) == 4
    as_dict = export(corpus, tmp_path / "q", format="jsonl", filter={"q": "glycogen"})
    records = [json.loads(x) for x in (as_dict.out / "all.jsonl").read_text().splitlines()]
    assert records and all("glycogen" in (r["caption"] + json.dumps(r["citances"])).lower() for r in records)
    assert read_manifest(as_dict.manifest)["query"]["q"] == "glycogen"


def test_refuses_unusable_requests(corpus, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old-000000.tar").write_bytes(b"x")
    with pytest.raises(ExportError, match="not empty"):
        export(corpus, tmp_path / "busy", format="webdataset")
    assert (tmp_path / "busy" / "old-000000.tar").read_bytes() == b"x", "a refused export touches nothing"
    with pytest.raises(ExportError, match="carry images"):
        export(corpus, tmp_path / "x", format="webdataset", with_images=False)
    with pytest.raises(ExportError, match="unknown export format"):
        export(corpus, tmp_path / "x", format="tfrecord")
    with pytest.raises(ExportError, match="sum to"):
        export(corpus, tmp_path / "x", format="jsonl", splits="0.5/0.2")
    with pytest.raises(ExportError, match="unknown filter fields"):
        export(corpus, tmp_path / "x", format="jsonl", filter={"colour": "red"})
    assert not (tmp_path / "x").exists()


def test_the_cli_summary_counts_what_was_written_and_what_was_left_out(corpus, tmp_path):
    result = CliRunner().invoke(app, ["export", "--format", "webdataset", "--out", str(tmp_path / "wds")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = " ".join(result.output.split())
    assert f"exported 10 records (of {corpus['total']} read)" in line
    assert f"left out: {corpus['total'] - 10} no image" in line
