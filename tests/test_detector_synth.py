"""Synthetic compound figures for the subfigure detector: deterministic, valid, tight boxes.

Runs without the shared layout CSVs (procedural layouts from layout_stats.json); the real-layout
test is skipped when the CSVs are absent.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from subfigure_detector.synth import photos
from subfigure_detector.synth.blocks import BLOCKS
from subfigure_detector.synth.compose import LABEL, PANEL, Mix, compose_butted, compose_figure, make_figure
from subfigure_detector.synth.dataset import GENERATOR_VERSION, Recipe, generate_dataset, yolo_lines
from subfigure_detector.synth.layouts import (DEFAULT_LAYOUTS_DIR, Layout, LayoutSampler, PanelSlot, load_real_layouts,
                                              load_stats, procedural_layout)
from subfigure_detector.synth.pool import build_pool
from subfigure_detector.synth.preview import forced_mix
from subfigure_detector.synth.render_utils import INK_THRESHOLD

SMALL = dict(n_charts=8, n_procedural=6, width_range=(300, 700))


@pytest.fixture(scope="module")
def pool():
    return build_pool(seed=3, n_charts=8, n_procedural=6)


@pytest.fixture(scope="module")
def stats():
    return load_stats()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.suffix in {".jpg", ".txt"}}


def test_same_seed_gives_identical_bytes_for_any_worker_count(tmp_path: Path) -> None:
    recipe = Recipe(seed=11, n_train=6, n_val=2, **SMALL)
    generate_dataset(tmp_path / "a", recipe, workers=1)
    generate_dataset(tmp_path / "b", recipe, workers=2)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) == 16, f"expected 8 images + 8 label files, got {sorted(a)}"
    differing = [k for k in a if a[k] != b.get(k)]
    assert not differing, f"same seed produced different bytes in {differing}"


def test_other_seed_gives_other_figures(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "a", Recipe(seed=1, n_train=2, n_val=0, **SMALL), workers=1)
    generate_dataset(tmp_path / "b", Recipe(seed=2, n_train=2, n_val=0, **SMALL), workers=1)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert any(a[k] != b[k] for k in a), "seeds 1 and 2 produced the same figures"


def test_dataset_layout_data_yaml_and_recipe(tmp_path: Path) -> None:
    data_yaml = generate_dataset(tmp_path / "ds", Recipe(seed=5, n_train=3, n_val=2, **SMALL), workers=1)
    root = (tmp_path / "ds").resolve()
    text = data_yaml.read_text()
    assert f"path: {root}\n" in text and "0: panel" in text and "1: label" in text, text
    for split, n in (("train", 3), ("val", 2)):
        assert len(list((root / "images" / split).glob("*.jpg"))) == n
        assert len(list((root / "labels" / split).glob("*.txt"))) == n
    recipe = json.loads((root / "recipe.json").read_text())
    assert (recipe["seed"], recipe["n_train"], recipe["n_val"]) == (5, 3, 2)
    assert recipe["generator_version"] == GENERATOR_VERSION == "2.0" and recipe["width_range"] == [300, 700]
    assert set(recipe["mix"]["figure"]) == {"standard", "dense", "butted"}, "the mode rates are not recorded"
    assert abs(sum(recipe["mix"]["blocks"].values()) - 1) < 1e-6, recipe["mix"]["blocks"]


def _contains(outer: tuple, inner: tuple) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _edge_has_ink(pixels: np.ndarray, box: tuple, bg: tuple) -> list[str]:
    """Names of the box edges (one-pixel lines just inside the box) that carry no ink."""
    x1, y1, x2, y2 = box
    region = np.abs(pixels[y1:y2, x1:x2].astype(int) - np.asarray(bg)).max(axis=-1) > INK_THRESHOLD
    edges = {"left": region[:, 0], "right": region[:, -1], "top": region[0, :], "bottom": region[-1, :]}
    return [name for name, line in edges.items() if not line.any()]


def _boxes(fig) -> tuple[list[tuple], list[tuple]]:
    return [a.box for a in fig.annotations if a.cls == PANEL], [a.box for a in fig.annotations if a.cls == LABEL]


def _check_conventions(fig) -> None:
    """What every figure must satisfy: valid, tight, non-overlapping panel boxes; all panels
    labelled or none; every label inside a panel except section letters (nested:section)."""
    w, h = fig.image.size
    pixels = np.asarray(fig.image)
    panels, labels = _boxes(fig)
    assert panels, "a figure without panels"
    for box in panels + labels:
        assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h, f"box {box} outside the {w}x{h} image"
    outside = [lab for lab in labels if not any(_contains(p, lab) for p in panels)]
    if "nested:section" not in fig.parts:
        assert not outside, f"label boxes {outside} lie in no panel box {panels} ({fig.parts})"
    assert len(outside) <= sum(p == "nested:section" for p in fig.parts), f"stray labels {outside} ({fig.parts})"
    with_label = [any(_contains(p, lab) for lab in labels) for p in panels]
    assert all(with_label) or not any(with_label), f"some panels labelled, some not: {with_label} ({fig.parts})"
    for p in panels:
        assert not (missing := _edge_has_ink(pixels, p, fig.background)), f"panel {p} is loose on {missing} ({fig.parts})"
    for i, a in enumerate(panels):
        for b in panels[i + 1 :]:
            overlap = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
            assert min(overlap) <= 0, f"panels {a} and {b} overlap ({fig.parts})"
    for line in yolo_lines(fig).splitlines():
        cls, *vals = line.split()
        assert cls in {"0", "1"} and all(0.0 <= float(v) <= 1.0 for v in vals), f"bad YOLO line {line!r}"


@pytest.mark.parametrize("seed", range(40))
def test_boxes_valid_tight_and_labels_inside_panels(seed: int, pool, stats) -> None:
    rng = np.random.default_rng(seed)
    _check_conventions(compose_figure(rng, procedural_layout(rng, stats), pool, stats, (300, 900)))


@pytest.mark.parametrize("seed", range(30))
def test_every_mode_of_the_recipe_follows_the_conventions(seed: int, pool, stats) -> None:
    rng = np.random.default_rng([seed, 1])
    _check_conventions(make_figure(rng, LayoutSampler(stats, []), pool, stats, (300, 900)))


def _one_labelled_slot(w: float = 600, h: float = 450) -> Layout:
    """A single panel whose source printed a label: the figure is labelled 93% of the time."""
    return Layout(w + 20, h + 20, (PanelSlot((10, 10, 10 + w, 10 + h), (12, 12, 30, 30), "A"),), "procedural")


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_a_label_owned_block_is_one_panel_with_one_label(kind: str, pool, stats) -> None:
    mix = forced_mix(kind)
    drawn = 0
    for seed in range(12):
        for shape in ((600, 450), (300, 700), (800, 260)):
            fig = compose_figure(np.random.default_rng([seed, 2]), _one_labelled_slot(*shape), pool, stats, (500, 900), mix)
            _check_conventions(fig)
            panels, labels = _boxes(fig)
            if f"block:{kind}" not in fig.parts:
                continue  # unlabelled draw, or the slot was too small for this block
            drawn += 1
            assert len(panels) == 1 and len(labels) == 1, f"{kind}: {len(panels)} panels, {len(labels)} labels"
    assert drawn >= 6, f"{kind} drawn in only {drawn} of 36 figures"


def test_a_labelled_grid_beside_charts_stays_one_panel_per_label(pool, stats) -> None:
    slots = tuple(PanelSlot((x, 10, x + 300, 310), (x + 2, 12, x + 20, 30), t) for x, t in ((10, "A"), (330, "B"), (650, "C")))
    mix = replace(forced_mix("picture_grid"), nested=0.0)
    for seed in range(8):
        fig = compose_figure(np.random.default_rng([seed, 3]), Layout(970, 320, slots, "procedural"), pool, stats,
                             (700, 900), mix)
        panels, labels = _boxes(fig)
        if labels:
            assert len(panels) == 3 and len(labels) == 3, f"{len(panels)} panels, {len(labels)} labels for 3 letters"


@pytest.mark.parametrize("seed", range(16))
def test_butted_pictures_are_one_panel_each(seed: int, pool, stats) -> None:
    fig = compose_butted(np.random.default_rng([seed, 4]), pool, stats, (300, 900))
    _check_conventions(fig)
    rows, cols = (int(v) for v in next(p for p in fig.parts if p.startswith("grid:"))[5:].split("x"))
    panels, labels = _boxes(fig)
    assert len(panels) == rows * cols, f"{len(panels)} panels for a {rows}x{cols} grid of touching pictures"
    assert len(labels) in (0, len(panels)), f"{len(labels)} labels for {len(panels)} touching pictures"
    if "slices" in fig.parts:  # dark slices fill their tiles: neighbours in a row touch, no gutter
        touching = sum(1 for a in panels for b in panels if a[2] == b[0] and a[1] == b[1])
        assert touching == rows * (cols - 1), f"{touching} touching pairs in a {rows}x{cols} grid"


def test_nested_labels_give_one_panel_per_sub_label(pool, stats) -> None:
    slots = tuple(PanelSlot((x, 10, x + 420, 430), (x + 2, 12, x + 20, 30), t) for x, t in ((10, "A"), (450, "B")))
    mix = forced_mix("nested")
    seen = set()
    for seed in range(30):
        fig = compose_figure(np.random.default_rng([seed, 5]), Layout(880, 440, slots, "procedural"), pool, stats,
                             (600, 1000), mix)
        _check_conventions(fig)
        variants = [p.split(":")[1] for p in fig.parts if p.startswith("nested:")]
        if not variants:
            continue
        seen.update(variants)
        panels, labels = _boxes(fig)
        parents = sum(v in ("attached", "section") for v in variants)
        assert len(labels) == len(panels) + parents, f"{variants}: {len(panels)} panels, {len(labels)} labels"
        assert len(panels) >= 2 + len(variants), f"{variants}: sub-panels missing ({len(panels)} panels)"
    assert seen == {"full", "attached", "section"}, f"nested variants drawn: {seen}"


def test_dense_layouts_have_10_to_20_panels(pool, stats) -> None:
    mix = forced_mix("dense")
    for seed in range(6):
        fig = make_figure(np.random.default_rng([seed, 6]), LayoutSampler(stats, []), pool, stats, (300, 1200), mix)
        _check_conventions(fig)
        panels, _ = _boxes(fig)
        assert 10 <= len(panels) <= 20 + 6, f"dense figure with {len(panels)} panels"


def test_default_mix_rates_are_distributions() -> None:
    mix = Mix()
    for table in (mix.figure, mix.blocks, mix.nested_variants, mix.chart_label, mix.picture_label):
        assert abs(sum(table.values()) - 1) < 1e-6, f"rates {table} do not sum to 1"
    assert set(mix.blocks) == set(BLOCKS), "every block kind needs a rate"


def test_procedural_layouts_follow_the_stats(stats) -> None:
    rng = np.random.default_rng(0)
    counts = [len(procedural_layout(rng, stats).panels) for _ in range(400)]
    share_single = counts.count(1) / len(counts)
    expected = stats["panel_count"]["1"]
    assert abs(share_single - expected) < 0.08, f"single-panel share {share_single:.2f}, stats say {expected:.2f}"
    assert max(counts) >= 6, "no larger layouts drawn"


def test_layout_stats_are_aggregate_distributions(stats) -> None:
    for key in ("panel_count", "label_position", "label_kind"):
        assert abs(sum(stats[key].values()) - 1) < 0.01, f"{key} is not a distribution"
    for key in ("figure_aspect", "panel_aspect", "gutter_frac", "label_height_to_panel_side"):
        q = stats[key]
        assert len(q) == 21 and q == sorted(q), f"{key} should hold 21 sorted quantiles"


@pytest.mark.skipif(not DEFAULT_LAYOUTS_DIR.exists(), reason="real layout CSVs not present (shared fixtures)")
def test_real_layouts_load_and_compose(pool, stats) -> None:
    layouts = load_real_layouts(DEFAULT_LAYOUTS_DIR)
    assert len(layouts) > 10_000, f"only {len(layouts)} real layouts read"
    labelled = [lay for lay in layouts if lay.has_labels and len(lay.panels) > 2]
    rng = np.random.default_rng(0)
    for lay in labelled[:10]:
        fig = compose_figure(rng, lay, pool, stats, (300, 800), replace(Mix(), nested=0.0))
        _check_conventions(fig)
        assert sum(a.cls == PANEL for a in fig.annotations) == len(lay.panels)


def test_evaluation_folders_are_refused_as_tiles(tmp_path: Path) -> None:
    gold = tmp_path / "gold-dev" / "images"
    gold.mkdir(parents=True)
    with pytest.raises(ValueError, match="evaluation"):
        photos.tile_images(gold)
