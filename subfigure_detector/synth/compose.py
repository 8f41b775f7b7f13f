"""Compose one synthetic compound figure from a layout and the content pool, with its boxes.

Box convention (as in the gold data): a panel box is the smallest region that carries its own
printed label, tight around its content (axes, tick labels, legend, colour bar, scale bar) and
its label; a labelled grid of pictures is one panel; without labels each separate picture or plot
is a panel. Frames, separator lines, shared headers/legends and caption text are not panels. Panel
boxes are measured on the rendered pixels (non-background bounding box) before frames and other
extras are drawn; label boxes are the printed glyphs' ink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from subfigure_detector.synth import decorations as deco
from subfigure_detector.synth.label_styles import LabelStyle, glyph_mask, sample_label_style
from subfigure_detector.synth.layouts import Layout, rows_of, sample_discrete, sample_quantiles
from subfigure_detector.synth.pool import ContentPool
from subfigure_detector.synth.render_utils import ink_bbox

PANEL, LABEL = 0, 1
Rect = tuple[int, int, int, int]
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


@dataclass(frozen=True)
class Annotation:
    cls: int  # PANEL or LABEL
    box: Rect  # x1, y1, x2, y2 in pixels, x2/y2 exclusive


@dataclass
class SynthFigure:
    image: Image.Image  # lossless; the dataset writer JPEG-encodes it
    annotations: list[Annotation]
    background: tuple[int, int, int]


@dataclass(frozen=True)
class _Style:
    """Per-figure choices shared by all its panels."""

    bg: tuple[int, int, int]
    labels: LabelStyle | None
    cap_h: float  # label cap height in px
    kinds: dict[str, float]  # content kind -> weight
    chart_mode: str  # where chart labels go: top | left | overlay
    picture_mode: str
    label_box_p: float  # chance of a background box behind an overlaid label


def _union(a: Rect, b: Rect) -> Rect:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _recolour(rng: np.random.Generator, im: Image.Image) -> Image.Image:
    r = rng.random()
    if r < 0.2:
        im = ImageOps.grayscale(im).convert("RGB")
    elif r < 0.45:  # channel permutation keeps white, black and greys
        bands = im.split()
        im = Image.merge("RGB", [bands[int(i)] for i in rng.permutation(3)])
    if rng.random() < 0.3:
        im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.7, 1.4))
    return im


def _crop_picture(rng: np.random.Generator, pool: ContentPool, w: int, h: int) -> Image.Image:
    src = pool.pictures[int(rng.integers(len(pool.pictures)))]
    a = w / h
    cw, ch = (src.width, src.width / a) if src.width / src.height < a else (src.height * a, src.height)
    f = rng.uniform(0.35, 1.0)
    cw, ch = max(4.0, cw * f), max(4.0, ch * f)
    x, y = rng.uniform(0, src.width - cw + 1e-6), rng.uniform(0, src.height - ch + 1e-6)
    tile = src.resize((w, h), Image.BILINEAR, box=(x, y, x + cw, y + ch), reducing_gap=2.0)
    return _recolour(rng, tile)


def _paste_chart(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect) -> Rect:
    x1, y1, x2, y2 = rect
    w, h = x2 - x1, y2 - y1
    cand = rng.choice(len(pool.charts), size=min(16, len(pool.charts)), replace=False)
    best = int(cand[np.argmin(np.abs(np.log(pool.chart_aspects[cand] / (w / h))))])
    chart = pool.charts[best]
    ca = chart.width / chart.height
    if 0.8 < (w / h) / ca < 1.25:  # stretch a little to fill the slot
        cw, ch = w, h
    elif ca > w / h:
        cw, ch = w, max(8, int(w / ca))
    else:
        cw, ch = max(8, int(h * ca)), h
    im = chart.resize((cw, ch), Image.BILINEAR, reducing_gap=2.0)
    if rng.random() < 0.3:
        im = _recolour(rng, im) if rng.random() < 0.5 else Image.merge("RGB", [im.split()[int(i)] for i in rng.permutation(3)])
    ox = 0 if rng.random() < 0.6 else (w - cw) // 2
    oy = 0 if rng.random() < 0.5 else (h - ch) // 2
    canvas.paste(im, (x1 + ox, y1 + oy))
    return x1 + ox, y1 + oy, x1 + ox + cw, y1 + oy + ch


def _decorate_picture(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect,
                      text_px: float, label_corner: str) -> None:
    free_corner = {"tl": "tr", "tr": "tl", "bl": "br", "br": "bl"}.get(label_corner, "tr")
    if rng.random() < 0.35:
        deco.scale_bar(rng, canvas, rect, text_px)
    if rng.random() < 0.2:
        deco.arrows(rng, canvas, rect)
    if rng.random() < 0.25:
        deco.annotation_word(rng, canvas, rect, text_px, free_corner)
    if rng.random() < 0.08:
        w, h = rect[2] - rect[0], rect[3] - rect[1]
        deco.inset(rng, canvas, rect, _crop_picture(rng, pool, max(8, w // 3), max(8, h // 3)),
                   "b" + free_corner[1] if free_corner[0] == "t" else "t" + free_corner[1])


def _paste_picture(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect,
                   text_px: float, label_corner: str) -> Rect:
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    canvas.paste(_crop_picture(rng, pool, w, h), rect[:2])
    _decorate_picture(rng, canvas, pool, rect, text_px, label_corner)
    return rect


def _paste_grid(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
                bg: tuple[int, int, int]) -> Rect:
    """An unlabelled grid of pictures (one panel), sometimes with column headers."""
    x1, y1, x2, y2 = rect
    r, c = [(1, 2), (1, 3), (2, 2), (2, 3), (3, 3), (2, 4), (3, 2), (1, 4)][int(rng.integers(8))]
    gap = int(rng.integers(0, 5))
    if rng.random() < 0.3 and text_px >= 6 and (y2 - y1) > 4 * text_px:  # column headers
        hh = int(text_px * 1.6)
        cw = (x2 - x1 - gap * (c - 1)) / c
        for j, word in enumerate(deco.header_words(rng, c)):
            deco.text_line(rng, canvas, (int(x1 + j * (cw + gap)), y1), text_px, [word],
                           WHITE if sum(bg) < 384 else BLACK, int(cw))
        y1 += hh
    cw, ch = (x2 - x1 - gap * (c - 1)) / c, (y2 - y1 - gap * (r - 1)) / r
    if cw < 8 or ch < 8:
        return _paste_picture(rng, canvas, pool, rect, text_px, "tl")
    for i in range(r):
        for j in range(c):
            cx, cy = int(x1 + j * (cw + gap)), int(y1 + i * (ch + gap))
            cell = (cx, cy, int(x1 + j * (cw + gap) + cw), int(y1 + i * (ch + gap) + ch))
            canvas.paste(_crop_picture(rng, pool, cell[2] - cell[0], cell[3] - cell[1]), cell[:2])
            if rng.random() < 0.15:
                _decorate_picture(rng, canvas, pool, cell, text_px * 0.8, "tl")
    return rect


def _place_overlay(rng: np.random.Generator, content: Rect, size: tuple[int, int], corner: str) -> tuple[int, int]:
    lw, lh = size
    x1, y1, x2, y2 = content
    m = int(rng.uniform(0.0, 0.05) * min(x2 - x1, y2 - y1)) + int(rng.integers(1, 5))
    x = {"l": x1 + m, "r": x2 - lw - m, "c": (x1 + x2 - lw) // 2}[corner[1]]
    y = {"t": y1 + m, "b": y2 - lh - m, "m": (y1 + y2 - lh) // 2}[corner[0]]
    return max(x1, min(x, x2 - lw)), max(y1, min(y, y2 - lh))


def _draw_panel(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, slot: Rect, style: _Style,
                text: str | None, corner: str) -> tuple[Rect, Rect | None]:
    """Draw one panel into `slot`; return its panel box and label box (both before tightening)."""
    kind = sample_discrete(rng, style.kinds)
    mode = style.chart_mode if kind == "chart" else style.picture_mode
    if kind == "chart" and corner[0] != "t":  # letters over a chart's axes would hide ticks: keep them on top
        corner = "tl" if rng.random() < 0.85 else "tr"
    mask = glyph_mask(text, style.labels.font, style.cap_h) if text and style.labels else None
    x1, y1, x2, y2 = slot
    content, label_xy = slot, None
    if mask is not None:
        lh, lw = mask.shape
        gap = max(1, int(lh * rng.uniform(0.15, 0.6)))
        if mode == "top" and (y2 - y1) - lh - gap >= 24 and lw < x2 - x1:
            content = (x1, y1 + lh + gap, x2, y2)
            label_xy = (x1 + int(rng.uniform(0, 0.03) * (x2 - x1)), y1)
        elif mode == "left" and (x2 - x1) - lw - gap >= 24 and lh < y2 - y1:
            content = (x1 + lw + gap, y1, x2, y2)
            label_xy = (x1, y1 + int(rng.uniform(0, 0.03) * (y2 - y1)))
    text_px = max(6.0, style.cap_h * rng.uniform(0.6, 0.9))
    if kind == "chart":
        drawn = _paste_chart(rng, canvas, pool, content)
    elif kind == "grid" and mask is not None:
        drawn = _paste_grid(rng, canvas, pool, content, text_px, style.bg)
    else:
        drawn = _paste_picture(rng, canvas, pool, content, text_px, corner)
    if mask is None:
        return drawn, None
    lh, lw = mask.shape
    if label_xy is None:  # overlaid on the content
        label_xy = _place_overlay(rng, drawn, (lw, lh), corner)
        under = np.asarray(canvas.crop((label_xy[0], label_xy[1], label_xy[0] + lw, label_xy[1] + lh)))
        colour = WHITE if under.mean() < 110 else BLACK
        if rng.random() < style.label_box_p:  # a contrasting box behind the letter
            p = max(1, lh // 5)
            box_col = BLACK if colour == WHITE else WHITE
            ImageDraw.Draw(canvas).rectangle((label_xy[0] - p, label_xy[1] - p, label_xy[0] + lw + p - 1,
                                              label_xy[1] + lh + p - 1), fill=box_col)
    else:
        colour = WHITE if sum(style.bg) < 384 else BLACK
        if rng.random() < 0.05:
            colour = (200, 0, 0) if sum(style.bg) >= 384 else (255, 255, 0)
    canvas.paste(Image.new("RGB", (lw, lh), colour), label_xy, Image.fromarray(mask))
    label_box = (label_xy[0], label_xy[1], label_xy[0] + lw, label_xy[1] + lh)
    return _union(drawn, label_box), label_box


def _figure_style(rng: np.random.Generator, layout: Layout, slots: list[Rect], order: list[int],
                  stats: dict) -> _Style:
    n = len(slots)
    r = rng.random()
    bg = WHITE if r < 0.88 else (BLACK if r < 0.95 else (int(rng.integers(235, 251)),) * 3)
    if layout.has_labels:
        labelled = rng.random() < 0.93
    elif layout.source == "panelseg":  # panelseg figures without labels: mostly single, unlabelled panels
        labelled = n > 1 and rng.random() < 0.5
    else:
        labelled = rng.random() < (0.8 if n > 1 else 0.2)
    labels = None
    if labelled:
        hint = [layout.panels[i].label_text for i in order] if layout.has_labels else None
        labels = sample_label_style(rng, n, stats, hint)
    sides = sorted(min(s[2] - s[0], s[3] - s[1]) for s in slots)
    cap_h = sample_quantiles(rng, stats["label_height_to_panel_side"]) * sides[len(sides) // 2]
    cap_h = float(np.clip(cap_h, 7, min(64, max(7, 0.3 * sides[0]))))
    mix = sample_discrete(rng, {"charts": 0.35, "pictures": 0.3, "mixed": 0.35}) if bg == WHITE else "pictures"
    kinds = {"charts": {"chart": 0.85, "picture": 0.1, "grid": 0.05},
             "pictures": {"chart": 0.05, "picture": 0.7, "grid": 0.25},
             "mixed": {"chart": 0.5, "picture": 0.35, "grid": 0.15}}[mix]
    return _Style(
        bg=bg, labels=labels, cap_h=cap_h, kinds=kinds,
        chart_mode=sample_discrete(rng, {"top": 0.6, "left": 0.25, "overlay": 0.15}),
        picture_mode=sample_discrete(rng, {"overlay": 0.65, "top": 0.25, "left": 0.1}),
        label_box_p=float(rng.choice([0.0, 0.0, 0.5, 1.0])),
    )


def _corner_of(layout: Layout, i: int, rng: np.random.Generator, stats: dict) -> str:
    """Where the label sits in panel i: the real layout's corner if it had one, else drawn from stats."""
    p = layout.panels[i]
    if p.label_box is not None:
        cx = ((p.label_box[0] + p.label_box[2]) / 2 - p.box[0]) / max(1.0, p.box[2] - p.box[0])
        cy = ((p.label_box[1] + p.label_box[3]) / 2 - p.box[1]) / max(1.0, p.box[3] - p.box[1])
        return ("t" if cy < 1 / 3 else "b" if cy > 2 / 3 else "m") + ("l" if cx < 1 / 3 else "r" if cx > 2 / 3 else "c")
    return sample_discrete(rng, stats["label_position"])


def compose_figure(rng: np.random.Generator, layout: Layout, pool: ContentPool, stats: dict,
                   width_range: tuple[int, int] = (300, 1600)) -> SynthFigure:
    """Render `layout` with contents from `pool`; return the (lossless) image and its boxes."""
    width = float(np.exp(rng.uniform(np.log(width_range[0]), np.log(width_range[1]))))
    scale = min(width / layout.width, 2000 / layout.height)
    margin = int(rng.integers(0, 12))
    extra_top = int(rng.integers(14, 30)) if rng.random() < 0.12 else 0
    extra_bottom = int(rng.integers(14, 40)) if rng.random() < 0.15 else 0
    slots = [(int(b[0] * scale) + margin, int(b[1] * scale) + margin + extra_top,
              int(b[2] * scale) + margin, int(b[3] * scale) + margin + extra_top)
             for b in (p.box for p in layout.panels)]
    cw = int(layout.width * scale) + 2 * margin
    ch = int(layout.height * scale) + 2 * margin + extra_top + extra_bottom
    order = [i for row in rows_of(slots) for i in row]
    style = _figure_style(rng, layout, slots, order, stats)
    # Gutters: unlabelled panels must look separate; labelled ones may touch.
    inset = int(rng.integers(2, 6)) if style.labels is None and len(slots) > 1 else int(rng.integers(0, 3))
    slots = [(s[0] + inset, s[1] + inset, s[2] - inset, s[3] - inset) for s in slots]
    canvas = Image.new("RGB", (cw, ch), style.bg)

    panels: list[Rect] = []
    labels: list[Rect | None] = []
    for rank, i in enumerate(order):
        slot = slots[i]
        if slot[2] - slot[0] < 8 or slot[3] - slot[1] < 8:
            continue
        text = style.labels.texts[rank] if style.labels else None
        box, label_box = _draw_panel(rng, canvas, pool, slot, style, text, _corner_of(layout, i, rng, stats))
        panels.append(box)
        labels.append(label_box)

    pixels = np.asarray(canvas)
    tight: list[Rect] = []
    for box, label_box in zip(panels, labels):
        ink = ink_bbox(pixels[box[1] : box[3], box[0] : box[2]], style.bg)
        t = box if ink is None else (box[0] + ink[0], box[1] + ink[1], box[0] + ink[2], box[1] + ink[3])
        tight.append(_union(t, label_box) if label_box else t)

    _draw_extras(rng, canvas, style, tight, extra_top, extra_bottom, margin)
    ann = [Annotation(PANEL, b) for b in tight] + [Annotation(LABEL, b) for b in labels if b is not None]
    return SynthFigure(canvas, ann, style.bg)


def _draw_extras(rng: np.random.Generator, canvas: Image.Image, style: _Style, boxes: list[Rect],
                 extra_top: int, extra_bottom: int, margin: int) -> None:
    """Non-panel ink: frames, separators, shared headers/legends, caption lines (outside all boxes)."""
    ink = WHITE if sum(style.bg) < 384 else BLACK
    if rng.random() < 0.1:
        deco.frames(rng, canvas, boxes, ink if rng.random() < 0.5 else (128, 128, 128))
    if len(boxes) > 1 and rng.random() < 0.08:
        deco.separators(canvas, boxes, rows_of(boxes), ink)
    px = max(7.0, style.cap_h * 0.7)
    if extra_top and boxes:
        y = margin + 2
        px_top = min(px, (extra_top - 4) / 1.3)  # a line is ~1.2 em tall: keep it inside the strip
        if rng.random() < 0.5:  # column headers over the first row
            for i in rows_of(boxes)[0]:
                b = boxes[i]
                deco.text_line(rng, canvas, (b[0], y), px_top, deco.header_words(rng, 1), ink, b[2] - b[0])
        else:
            deco.text_line(rng, canvas, (margin, y), px_top, deco.header_words(rng, 3), ink, canvas.width)
    if extra_bottom and boxes:
        y = max(b[3] for b in boxes) + 3
        if rng.random() < 0.4 and ink == BLACK:
            deco.shared_legend(rng, canvas, (margin + 4, y + 2), min(px, extra_bottom - 6), canvas.width - 8)
        else:
            fig_no = int(rng.integers(1, 9)) if rng.random() < 0.5 else None
            deco.text_line(rng, canvas, (margin, y), min(px, extra_bottom - 6), deco.caption_words(rng, 30, fig_no),
                           ink, canvas.width - margin)
