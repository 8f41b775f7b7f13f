"""The hand-made gold of issue 12 (compound figures) and issue 13 (subcaptions) is well-formed and traceable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from subfigure_detector.evaluate import gold_files_of, gold_split, load_gold

FIXTURES = Path(__file__).parent / "fixtures"
FIGURES = FIXTURES / "compound-figures" / "gold-v2"
CAPTIONS = FIXTURES / "subcaptions" / "gold-v2"


@pytest.mark.parametrize("gold_file", gold_files_of([FIGURES]), ids=lambda p: p.name)
def test_figure_gold_is_traceable_and_inside_its_images(gold_file):
    raw = json.loads(gold_file.read_text())["figures"]
    figures = load_gold(gold_file)
    assert len(figures) == len(raw) >= 30
    for r, f in zip(raw, figures):
        assert r.get("article") and r.get("source") and (r.get("licence") or r.get("license")), r["image"]
        with Image.open(f.image) as im:
            assert im.size == (f.width, f.height), r["image"]
        for p in f.panels:
            x1, y1, x2, y2 = p.box
            assert 0 <= x1 < x2 <= f.width and 0 <= y1 < y2 <= f.height, (r["image"], p.box)
            assert (p.label is None) == (p.label_box is None), (r["image"], p.label)
    assert {f.split for f in figures} == {"dev", "test"}


def test_caption_gold_is_traceable_and_made_of_the_captions_words():
    files = sorted(CAPTIONS.glob("gold-*.jsonl"))
    assert files
    records = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    assert len(records) >= 300
    assert len({r["id"] for r in records}) == len(records), "ids are unique"
    assert {gold_split(r["article"]) for r in records} == {"dev", "test"}
    for r in records:
        assert r["caption"] and r.get("licence") and r.get("source"), r["id"]
        for p in r["panels"]:
            assert p["label"] and p["text"].strip(), r["id"]
