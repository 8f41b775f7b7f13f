"""Panel-level exports: crops of the panel boxes from real figures, with their subcaptions, citances,
concepts and modality (Subfigure/Subcaption rows inserted the way the detector and caption work will)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from figmine.cli import app
from store.exporters import run_export
from store.filters import FigureFilter
from store.models import Article, Concept, ConceptMention, Figure, Modality, Subcaption, Subfigure

PACKAGES = Path(__file__).parent / "fixtures" / "packages"
FULL_A = "Sound-contingent visual motion aftereffects. (A) Rightward motion perception before and after adaptation."
FULL_B = "Sound-contingent visual motion aftereffects. (B) Points of subjective stationarity."


@pytest.fixture
def env(figmine_env):
    # panels, subcaptions and mentions are written by hand below: no detection, no caption stage
    result = CliRunner().invoke(app, ["ingest", "--no-detect", "--no-concepts", str(PACKAGES)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory

    return {"factory": session_factory(), "blobs": open_blob_store(get_settings().blob_location)}


def _modality(session, code: str, parent: Modality | None = None) -> Modality:
    """The taxonomy entry (ingest seeds the taxonomy), created if this database lacks it."""
    found = session.scalars(select(Modality).where(Modality.code == code)).one_or_none()
    if found is None:
        found = Modality(code=code, name=code, parent_id=parent.id if parent else None)
        session.add(found)
        session.flush()
    return found


def _add_panels(factory) -> dict:
    """Figure 2 of PMC2924383 (465×783; citances cite its panels A and B) split into three panels."""
    with factory() as s:
        figure = s.scalars(
            select(Figure).join(Article).where(Article.pmcid == "PMC2924383", Figure.ordinal == 1)
        ).one()
        assert (figure.width, figure.height) == (465, 783)
        radiology = _modality(s, "radiology")
        ct = _modality(s, "radiology.ct", radiology)
        chart = _modality(s, "graphics.chart")
        figure.modality_id = chart.id
        a = Subfigure(figure_id=figure.id, ordinal=0, x1=0, y1=0, x2=465, y2=390, label="A", method="yolo",
                      modality_id=ct.id)
        b = Subfigure(figure_id=figure.id, ordinal=1, x1=0, y1=390, x2=465, y2=783, label="B", method="yolo")
        c = Subfigure(figure_id=figure.id, ordinal=2, x1=400, y1=700, x2=500, y2=800, method="xycut")
        s.add_all([a, b, c])
        s.flush()
        sub_a = Subcaption(figure_id=figure.id, subfigure_id=a.id, ordinal=0, label="A",
                           text="Rightward motion perception before and after adaptation.", full_text=FULL_A)
        sub_b = Subcaption(figure_id=figure.id, ordinal=1, label="(b)", text="Points of subjective stationarity.",
                           full_text=FULL_B)  # not linked to a panel yet: found by its label
        s.add_all([sub_a, sub_b])
        s.flush()
        vision = Concept(vocab="MSH", code="D014796", name="Vision, Ocular")
        s.add(vision)
        s.flush()
        s.add(ConceptMention(concept_id=vision.id, figure_id=figure.id, subcaption_id=sub_a.id, field="subcaption",
                             start=0, end=9, text="Rightward"))
        s.commit()
        return {"caption": figure.caption_text, "image_key": figure.image_key}


def _samples(result, decode=True):
    urls = [str(result.out / f.path) for f in result.files if f.kind == "shard"]
    ds = wds.WebDataset(urls, shardshuffle=False)
    return list(ds.decode("pil") if decode else ds)


def test_no_panels_yet_gives_an_empty_but_finished_export(env, tmp_path):
    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "x", format="webdataset", level="subfigure")
    assert result.total == 0 and result.counts["records"] == 0
    assert [f.kind for f in result.files] == ["manifest"]


def test_one_record_per_panel_with_its_crop_text_and_citances(env, tmp_path):
    figure = _add_panels(env["factory"])
    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "x", format="webdataset", level="subfigure")
    samples = {s["__key__"]: s for s in _samples(result)}
    assert sorted(samples) == ["PMC2924383_f001_p00", "PMC2924383_f001_p01", "PMC2924383_f001_p02"]
    a, b, c = (samples[f"PMC2924383_f001_p0{i}"] for i in range(3))

    assert a["txt"] == FULL_A and a["json"]["subcaption"]["label"] == "A"
    assert b["txt"] == FULL_B, "a subcaption not linked to its panel is matched by label"
    assert c["txt"] == figure["caption"], "a panel without subcaption gets the figure caption"

    assert [x["panels"] for x in a["json"]["citances"]] == [["A"]]
    assert [x["panels"] for x in b["json"]["citances"]] == [["B"]]
    assert c["json"]["citances"] == [], "a panel without label has no panel citances"

    assert a["json"]["modality"] == "radiology.ct" and b["json"]["modality"] == "graphics.chart"
    assert [x["code"] for x in a["json"]["concepts"]] == ["D014796"] and b["json"]["concepts"] == []
    assert a["json"]["box"] == [0, 0, 465, 390] and a["json"]["figure_label"] == "Figure 2"

    assert a["jpg"].size == (465, 390) and b["jpg"].size == (465, 393)
    assert c["jpg"].size == (65, 83), "a box running off the picture is clamped"
    assert (c["json"]["width"], c["json"]["height"]) == (65, 83)
    original = np.asarray(Image.open(io.BytesIO(env["blobs"].open(figure["image_key"]))).convert("RGB"), float)
    crop = np.asarray(b["jpg"].convert("RGB"), float)
    assert np.abs(crop - original[390:783, 0:465]).mean() < 6, "the crop shows the panel's pixels"
    raw = {s["__key__"]: s for s in _samples(result, decode=False)}
    import hashlib

    assert hashlib.sha256(raw["PMC2924383_f001_p00"]["jpg"]).hexdigest() == a["json"]["sha256"]


def test_panel_level_modality_filter(env, tmp_path):
    _add_panels(env["factory"])
    ct = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "ct", format="webdataset", level="subfigure",
                    filter=FigureFilter(modality=["radiology"]))
    assert ct.total == 1 and [s["__key__"] for s in _samples(ct)] == ["PMC2924383_f001_p00"]
    charts = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "chart", format="webdataset",
                        level="subfigure", filter=FigureFilter(modality=["graphics.chart"]))
    assert sorted(s["__key__"] for s in _samples(charts)) == ["PMC2924383_f001_p01", "PMC2924383_f001_p02"], \
        "panels without a modality of their own take the figure's"


def test_panels_in_parquet_and_jsonl(env, tmp_path):
    _add_panels(env["factory"])
    light = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "pq", format="parquet", level="subfigure",
                       with_images=False)
    rows = pq.read_table(light.out / light.files[0].path).to_pylist()
    assert [r["key"] for r in rows] == [f"PMC2924383_f001_p0{i}" for i in range(3)]
    assert all(r["image"] is None for r in rows) and rows[2]["width"] == 65
    assert rows[0]["subcaption"]["full_text"] == FULL_A and rows[0]["text"] == FULL_A

    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "j", format="jsonl", level="subfigure")
    records = [json.loads(x) for x in (result.out / "all.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        with Image.open(result.out / record["image"]) as image:
            assert image.size == (record["width"], record["height"])


def test_panel_dedup_uses_the_crops(env, tmp_path):
    _add_panels(env["factory"])
    with env["factory"]() as s:  # the same panel box twice: an exact duplicate crop
        a = s.scalars(select(Subfigure).where(Subfigure.label == "A")).one()
        s.add(Subfigure(figure_id=a.figure_id, ordinal=3, x1=0, y1=0, x2=465, y2=390, label="D"))
        s.commit()
    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "x", format="webdataset", level="subfigure",
                        dedup="sha256")
    assert result.counts["duplicates"]["sha256"] == 1
    assert "PMC2924383_f001_p03" not in {s["__key__"] for s in _samples(result)}


def test_figure_level_exports_carry_each_panels_own_text(env, tmp_path):
    _add_panels(env["factory"])
    for fmt in ("jsonl", "parquet"):
        result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / fmt, format=fmt, level="figure",
                            with_images=False, filter=FigureFilter(pmcid=["PMC2924383"]))
        data = [f for f in result.files if f.kind in ("data", "shard")]
        if fmt == "jsonl":
            records = [json.loads(x) for x in (result.out / data[0].path).read_text().splitlines()]
        else:
            records = pq.read_table(result.out / data[0].path).to_pylist()
        [figure] = [r for r in records if r["subfigures"]]
        a, b, c = figure["subfigures"]
        assert (a["label"], a["box"], a["subcaption"], a["full_text"]) == \
            ("A", [0, 0, 465, 390], "Rightward motion perception before and after adaptation.", FULL_A), fmt
        assert b["subcaption"] == "Points of subjective stationarity." and b["full_text"] == FULL_B, fmt
        assert c["subcaption"] is None and c["full_text"] is None and c["citances"] == [], fmt
        assert [x["panels"] for x in a["citances"]] == [["A"]] and [x["panels"] for x in b["citances"]] == [["B"]]
        assert [x["code"] for x in a["concepts"]] == ["D014796"] and b["concepts"] == [], fmt
        assert (a["modality"], b["modality"]) == ("radiology.ct", None), fmt
        assert figure["modality"] == "graphics.chart", fmt


@pytest.mark.parametrize("fmt", ["jsonl", "webdataset", "parquet"])
def test_panel_records_load_in_datasets_with_their_struct_and_null_subcaptions(env, tmp_path, fmt):
    """A panel without subcaption has `subcaption: null` beside panels with a struct: the card's types
    let `datasets` load both (issue 15)."""
    import datasets

    _add_panels(env["factory"])
    result = run_export(env["factory"], env["blobs"], out_dir=tmp_path / "x", format=fmt, level="subfigure",
                        shard_size=1)
    ds = datasets.load_dataset(str(result.out), cache_dir=str(tmp_path / "hf"))["train"]
    records = [r["json"] for r in ds] if fmt == "webdataset" else list(ds)
    assert len(records) == 3
    assert sorted(r["subcaption"]["label"] if r["subcaption"] else "-" for r in records) == ["(b)", "-", "A"]
