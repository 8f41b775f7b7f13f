"""The whitespace-gutter splitter on drawn figures with known panels, and on real gold figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from subfigure_detector.evaluate import imageclef_score, load_gold
from subfigure_detector.postprocess import iou
from subfigure_detector.xycut import split_figure

def _font(name: str) -> Path:
    """A DejaVu font: the system's, else the copy bundled with matplotlib."""
    system = Path("/usr/share/fonts/truetype/dejavu") / name
    if system.exists():
        return system
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


FONT = ImageFont.truetype(str(_font("DejaVuSans.ttf")), 12)
BOLD = ImageFont.truetype(str(_font("DejaVuSans-Bold.ttf")), 16)
GOLD_DIR = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-dev"


def photo(d: ImageDraw.ImageDraw, box, seed=0) -> None:
    rng = np.random.default_rng(seed)
    x1, y1, x2, y2 = box
    d.rectangle([x1, y1, x2 - 1, y2 - 1], fill=(90, 90, 90))
    for _ in range(40):
        x, y = rng.integers(x1, x2 - 6), rng.integers(y1, y2 - 6)
        d.ellipse([x, y, x + 6, y + 6], fill=(200, 200, 200))


def bar_chart(d: ImageDraw.ImageDraw, box) -> None:
    """Axes, bars, tick labels and a rotated-looking axis title, with whitespace inside."""
    x1, y1, x2, y2 = box
    ax = x1 + 40
    d.text((x1, y1 + (y2 - y1) // 2), "y", font=FONT, fill=0)  # axis title, a gap away from the ticks
    for k, t in enumerate(["30", "20", "10", "0"]):
        d.text((x1 + 18, y1 + 5 + k * (y2 - y1 - 40) // 3), t, font=FONT, fill=0)
    d.line([ax, y1, ax, y2 - 20], fill=0, width=2)
    d.line([ax, y2 - 20, x2 - 1, y2 - 20], fill=0, width=2)
    for k in range(4):
        bx = ax + 12 + k * (x2 - ax - 20) // 4
        d.rectangle([bx, y1 + 20 + 15 * k, bx + 14, y2 - 21], fill=(40, 80, 200))
        d.text((bx, y2 - 16), f"c{k}", font=FONT, fill=0)


def canvas(w, h):
    im = Image.new("RGB", (w, h), "white")
    return im, ImageDraw.Draw(im)


def boxes_of(im: Image.Image) -> list[tuple[int, int, int, int]]:
    return [p.box for p in split_figure(np.asarray(im))]


def assert_matches(found, want, min_iou=0.85):
    assert len(found) == len(want), f"found {len(found)} panels {found}, want {len(want)}"
    for w in want:
        best = max(iou(w, f) for f in found)
        assert best >= min_iou, f"no panel matches {w} (best IoU {best:.2f}) in {found}"


def test_grid_of_photos_is_split_tight_on_each_photo():
    im, d = canvas(420, 320)
    want = [(10, 10, 200, 150), (215, 10, 410, 150), (10, 165, 200, 310), (215, 165, 410, 310)]
    for k, b in enumerate(want):
        photo(d, b, k)
    found = boxes_of(im)
    assert sorted(found) == sorted(want), "each photo is one panel, trimmed exactly to its pixels"


def test_whitespace_inside_a_chart_does_not_split_it():
    im, d = canvas(560, 260)
    bar_chart(d, (10, 10, 270, 250))
    bar_chart(d, (295, 10, 550, 250))
    assert_matches(boxes_of(im), [(10, 10, 270, 250), (295, 10, 550, 250)])


def test_a_figure_without_gutters_is_one_panel():
    im, d = canvas(300, 200)
    bar_chart(d, (10, 10, 290, 190))
    found = split_figure(np.asarray(im))
    assert len(found) == 1 and found[0].score >= 0.8


def test_panel_letters_in_the_gutter_join_their_panel():
    im, d = canvas(430, 190)
    photo(d, (20, 30, 200, 180), 1)
    photo(d, (240, 30, 420, 180), 2)
    a = d.textbbox((4, 4), "a", font=BOLD)  # above-left of the left photo
    b = d.textbbox((224, 4), "b", font=BOLD)  # above-left of the right photo, near the left one too
    d.text((4, 4), "a", font=BOLD, fill=0)
    d.text((224, 4), "b", font=BOLD, fill=0)
    found = sorted(split_figure(np.asarray(im)), key=lambda p: p.box[0])
    for p, want in zip(found, [(a[0], a[1], 200, 180), (b[0], b[1], 420, 180)]):
        assert max(abs(u - v) for u, v in zip(p.box, want)) <= 2, f"{p.box}: the panel includes its own letter"
    assert [iou(p.label_box, want) > 0.7 for p, want in zip(found, (a, b))] == [True, True]


def test_a_rule_between_rows_counts_as_gutter():
    im, d = canvas(300, 330)
    photo(d, (10, 10, 290, 150), 3)
    d.line([5, 162, 295, 162], fill=0, width=2)
    photo(d, (10, 175, 290, 320), 4)
    assert_matches(boxes_of(im), [(10, 10, 290, 150), (10, 175, 290, 320)])


def test_a_legend_shared_by_two_panels_is_not_a_panel():
    im, d = canvas(560, 300)
    bar_chart(d, (10, 10, 270, 250))
    bar_chart(d, (295, 10, 550, 250))
    d.rectangle([200, 276, 210, 286], fill=(40, 80, 200))
    d.text((215, 273), "treated", font=FONT, fill=0)
    d.rectangle([300, 276, 310, 286], fill=(200, 60, 40))
    d.text((315, 273), "control", font=FONT, fill=0)
    found = boxes_of(im)
    assert_matches(found, [(10, 10, 270, 250), (295, 10, 550, 250)])


def test_dark_background_figure():
    im = Image.new("RGB", (300, 150), "black")
    d = ImageDraw.Draw(im)
    d.rectangle([10, 10, 140, 140], fill=(200, 200, 200))
    d.rectangle([160, 10, 290, 140], fill=(150, 220, 150))
    assert_matches(boxes_of(im), [(10, 10, 141, 141), (160, 10, 291, 141)])


def test_blank_image_has_no_panels():
    assert split_figure(np.full((50, 50, 3), 255, np.uint8)) == []


def test_huge_figure_is_analysed_pooled_and_mapped_back():
    im, d = canvas(4000, 1200)
    photo(d, (100, 100, 1900, 1100), 5)
    photo(d, (2100, 100, 3900, 1100), 6)
    assert sorted(boxes_of(im)) == [(100, 100, 1900, 1100), (2100, 100, 3900, 1100)]


def test_real_gold_figures():
    """The OA-package gold figures: XY-cut finds every panel (regression guard on real figures)."""
    from harvester.images import load_image

    scores = []
    for fig in load_gold(GOLD_DIR / "gold.json"):
        found = split_figure(np.asarray(load_image(fig.image).rgb))
        scores.append(imageclef_score([p.box for p in found], [p.box for p in fig.panels]))
    assert np.mean(scores) >= 0.9, scores
