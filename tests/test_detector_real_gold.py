"""Real gold figures reach the detector's training set only from the dev side of the frozen split."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from subfigure_detector.evaluate import gold_split
from subfigure_detector.real_gold import add_real_gold, yolo_line


def _gold(tmp_path: Path) -> Path:
    gold = tmp_path / "gold"
    (gold / "images").mkdir(parents=True)
    figures = []
    for i, article in enumerate(["PMC0", "PMC2", "PMC5", None]):  # test, dev, dev, no article
        name = f"fig{i}.png"
        Image.new("RGB", (200, 100), "white").save(gold / "images" / name)
        fig = {"image": name, "width": 200, "height": 100, "article": article,
               "panels": [{"box": [0, 0, 100, 100], "label": "A", "label_box": [2, 2, 12, 14]},
                          {"box": [110, 0, 200, 100], "label": None, "label_box": None}]}
        figures.append(fig)
    figures[2]["difficult"] = True
    (gold / "gold-x.json").write_text(json.dumps({"figures": figures}))
    return gold


def test_only_dev_figures_with_an_article_are_added(tmp_path):
    assert [gold_split(a) for a in ("PMC0", "PMC2", "PMC5")] == ["test", "dev", "dev"]
    data, gold = tmp_path / "data", _gold(tmp_path)
    summary = add_real_gold(data, [gold], repeat=3)
    assert summary["images"] == ["fig1.png"], "test side, difficult and article-less figures stay out"
    written = sorted(p.name for p in (data / "images" / "train").iterdir())
    assert written == ["real_fig1_0.png", "real_fig1_1.png", "real_fig1_2.png"]
    lines = (data / "labels" / "train" / "real_fig1_0.txt").read_text().split("\n")
    assert lines[:3] == ["0 0.250000 0.500000 0.500000 1.000000", "0 0.775000 0.500000 0.450000 1.000000",
                         "1 0.035000 0.080000 0.050000 0.120000"]
    assert Image.open(data / "images" / "train" / "real_fig1_0.png").size == (200, 100)
    add_real_gold(data, [gold], repeat=3)  # rerunning replaces, never duplicates
    assert len(list((data / "images" / "train").iterdir())) == 3


def test_yolo_line_clips_boxes_to_the_image():
    assert yolo_line(0, (-5, 0, 50, 120), 100, 100) == "0 0.250000 0.500000 0.500000 1.000000"
