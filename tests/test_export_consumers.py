"""Every export layout loads as-is in the libraries people train with (issue 15): Hugging Face
`datasets` (webdataset, json, csv and parquet builders, from the export folder's dataset card) and open_clip's shard-size reader.
The corpus is the ingested fixtures (10 figures with images, over 100 without)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from PIL import Image

from test_export_formats import corpus, export  # noqa: F401  (the ingested fixtures)

SPLITS = "0.6/0.2/0.2"


def data_files(result, suffix: str) -> dict[str, list[str]]:
    """What a user passes to `load_dataset`: the export's data files per split, from its manifest."""
    by_split: dict[str, list[str]] = {}
    for f in result.files:
        if f.path.endswith(suffix) and f.split:
            by_split.setdefault(f.split, []).append(str(result.out / f.path))
    return by_split


def load(result, tmp_path: Path) -> datasets.DatasetDict:
    """As a user would: the export folder, its dataset card naming the splits and typing the fields."""
    return datasets.load_dataset(str(result.out), cache_dir=str(tmp_path / "hf-cache"))


def test_webdataset_with_splits_and_shards_loads_in_datasets(corpus, tmp_path):
    result = export(corpus, tmp_path / "wds", format="webdataset", splits=SPLITS, shard_size=2)
    files = data_files(result, ".tar")
    assert sum(len(v) for v in files.values()) > len(files), "several shards"
    ds = load(result, tmp_path)
    assert set(ds) == set(files)
    assert sum(len(ds[s]) for s in ds) == 10
    for split in ds:
        for row in ds[split]:
            assert isinstance(row["jpg"], Image.Image)
            assert row["txt"] == row["json"]["caption"]
            assert row["json"]["pmcid"].startswith("PMC")


def test_jsonl_with_splits_loads_in_datasets_and_writes_no_empty_split(corpus, tmp_path):
    result = export(corpus, tmp_path / "jsonl", format="jsonl", splits="0.98/0.01/0.01", with_images=False)
    files = data_files(result, ".jsonl")
    empty = {name for name, c in result.counts["splits"].items() if c["records"] == 0}
    assert empty, "seed 0 leaves a 1 % split without articles: the case under test"
    assert {p.stem for p in result.out.glob("*.jsonl")} == set(files) == {"train", "validation", "test"} - empty
    ds = load(result, tmp_path)
    assert set(ds) == set(files)
    assert sum(len(ds[s]) for s in ds) == corpus["total"]
    row = next(iter(ds[next(iter(ds))]))
    assert row["caption"] and row["pmcid"].startswith("PMC")


def test_csv_loads_in_datasets_with_captions_intact(corpus, tmp_path):
    result = export(corpus, tmp_path / "clip", format="csv")
    ds = load(result, tmp_path)
    rows = list(ds["train"])  # an unsplit export ("all") is the train split of `datasets`
    assert len(rows) == 10 and set(rows[0]) == {"filepath", "title"}
    assert all(r["title"] and (result.out / r["filepath"]).is_file() for r in rows)


def test_parquet_image_column_loads_as_an_image_feature(corpus, tmp_path):
    result = export(corpus, tmp_path / "pq", format="parquet", splits=SPLITS)
    ds = load(result, tmp_path)
    split = next(iter(ds))
    assert isinstance(ds[split].features["image"], datasets.Image)
    with_image = [r for s in ds for r in ds[s] if r["image"] is not None]
    assert len(with_image) == 10 and all(isinstance(r["image"], Image.Image) for r in with_image)


def test_open_clip_reads_the_number_of_samples_from_sizes_json(corpus, tmp_path):
    result = export(corpus, tmp_path / "wds", format="webdataset", splits=SPLITS, shard_size=2)
    sizes = json.loads((result.out / "sizes.json").read_text())
    shards = [f for f in result.files if f.kind == "shard"]
    assert sizes == {f.path: f.records for f in shards}
    assert sum(sizes.values()) == 10
