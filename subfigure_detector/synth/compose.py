"""Compose one synthetic compound figure from a layout and the content pool, with its boxes.

Box convention (as in the gold data, `tests/fixtures/compound-figures/gold-v2/README.md`): a panel
box is the smallest region that carries its own printed label, tight around its content (axes, tick
labels, legend, colour bar, scale bar) and its label; a labelled grid of pictures, row of charts,
heat-map block, time-lapse strip or column of flow plots is ONE panel (`blocks.py`); nested labels
(A with i, ii) make each sub-labelled region a panel, the parent letter alone is not one; without
labels each separate picture or plot is a panel, also when pictures touch with no gutter. Frames,
separator lines, shared headers/legends, section headings and caption text are not panels. Panel
boxes are measured on the rendered pixels (non-background bounding box) before frames and other
extras are drawn; label boxes are the printed glyphs' ink.

A figure is one of three modes (`Mix.figure`): a standard layout (real or procedural), a dense
10-20-panel layout, or touching ("butted") pictures; the rates live in `Mix`, which the dataset
recipe records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from subfigure_detector.synth import decorations as deco
from subfigure_detector.synth.blocks import CHART_BLOCKS, PICTURE_BLOCKS, draw_block
from subfigure_detector.synth.label_styles import ROMAN, LabelStyle, glyph_mask, sample_label_style
from subfigure_detector.synth.layouts import (Layout, LayoutSampler, procedural_layout, rows_of, sample_discrete,
                                              sample_quantiles)
from subfigure_detector.synth.pool import ContentPool
from subfigure_detector.synth.render_utils import ink_bbox_image

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
    parts: list[str] = field(default_factory=list)  # what was drawn: mode, block kinds, nested variants


def _table(**kw: float) -> dict[str, float]:
    return dict(kw)


@dataclass(frozen=True)
class Mix:
    """How often each content/layout mode is drawn (generator 2.0 rates; recorded in recipe.json)."""

    # figure mode: standard layout (real or procedural) | dense 10-20 panels | touching pictures
    figure: dict[str, float] = field(default_factory=lambda: _table(standard=0.78, dense=0.11, butted=0.11))
    # per labelled figure, the chance that a labelled panel is a label-owned block: one value drawn per figure
    block_share: tuple[float, ...] = (0.0, 0.15, 0.3, 0.5, 0.75)
    blocks: dict[str, float] = field(default_factory=lambda: _table(
        picture_grid=0.26, timelapse=0.1, chart_row=0.2, heatmap_block=0.12, flow_column=0.12, blot_lanes=0.08,
        stack=0.12))
    nested: float = 0.16  # labelled figures where 1-2 labelled panels split into sub-labelled panels
    nested_variants: dict[str, float] = field(default_factory=lambda: _table(full=0.45, attached=0.35, section=0.2))
    chart_label: dict[str, float] = field(default_factory=lambda: _table(top=0.5, left=0.2, overlay=0.15, corner=0.15))
    picture_label: dict[str, float] = field(default_factory=lambda: _table(overlay=0.55, top=0.2, left=0.1, corner=0.15))
    butted_labelled: float = 0.5  # touching pictures each with its own label inside (else unlabelled)
    dense_panels: tuple[int, int] = (10, 20)


@dataclass(frozen=True)
class _Style:
    """Per-figure choices shared by all its panels."""

    bg: tuple[int, int, int]
    labels: LabelStyle | None
    cap_h: float  # label cap height in px
    kinds: dict[str, float]  # content kind -> weight
    chart_mode: str  # where chart labels go: top | left | overlay | corner
    picture_mode: str
    label_box_p: float  # chance of a background box behind an overlaid label
    block_p: float = 0.0  # chance a labelled panel is a label-owned block
    block_kinds: dict[str, float] = field(default_factory=dict)


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
                text: str | None, corner: str, parts: list[str] | None = None, allow_block: bool = True,
                cap_h: float | None = None) -> tuple[Rect, Rect | None]:
    """Draw one panel into `slot`; return its panel box and label box (both before tightening)."""
    kind = sample_discrete(rng, style.kinds)
    mask = glyph_mask(text, style.labels.font, cap_h or style.cap_h) if text and style.labels else None
    block_kind = None
    if mask is not None and allow_block and (kind == "grid" or rng.random() < style.block_p):
        block_kind = "picture_grid" if kind == "grid" else sample_discrete(rng, style.block_kinds)
    elif kind == "grid":
        kind = "picture"
    chartish = kind == "chart" if block_kind is None else block_kind in CHART_BLOCKS
    mode = style.chart_mode if chartish else style.picture_mode
    if block_kind is not None:  # a block's label sits at its top-left: outside, or inside on the first tile
        mode = "top" if mode == "corner" else mode  # a corner patch would cover the block's headers
        corner = "tl"
    if chartish and corner[0] != "t":  # letters over a chart's axes would hide ticks: keep them on top
        corner = "tl" if rng.random() < 0.85 else "tr"
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
        elif mode == "corner" and (x2 - x1) - lw >= 24 and (y2 - y1) - lh >= 24:
            u = rng.uniform(0.3, 0.75)  # the label straddles the content's top-left corner
            content = (x1 + int(lw * u), y1 + int(lh * u), x2, y2)
            label_xy = (x1, y1)
    text_px = max(6.0, style.cap_h * rng.uniform(0.6, 0.9))
    block = None
    if block_kind is not None:
        block = draw_block(rng, block_kind, canvas, pool, content, text_px, style.bg)
        if block is not None and parts is not None:
            parts.append(f"block:{block_kind}")
    if block is not None:
        drawn, anchor = block.box, block.first
    elif kind == "chart" or (block_kind is not None and chartish):
        drawn = anchor = _paste_chart(rng, canvas, pool, content)
    else:
        drawn = anchor = _paste_picture(rng, canvas, pool, content, text_px, corner)
    if mask is None:
        return drawn, None
    lh, lw = mask.shape
    if label_xy is None:  # overlaid on the content (the first tile of a block)
        label_xy = _place_overlay(rng, anchor, (lw, lh), corner)
        under = np.asarray(canvas.crop((label_xy[0], label_xy[1], label_xy[0] + lw, label_xy[1] + lh)))
        colour = WHITE if under.mean() < 110 else BLACK
        if rng.random() < style.label_box_p:  # a contrasting box behind the letter
            p = max(1, lh // 5)
            box_col = BLACK if colour == WHITE else WHITE
            ImageDraw.Draw(canvas).rectangle((label_xy[0] - p, label_xy[1] - p, label_xy[0] + lw + p - 1,
                                              label_xy[1] + lh + p - 1), fill=box_col)
    else:
        colour = WHITE if sum(style.bg) < 384 else BLACK
        if mode == "corner":  # a background-coloured patch keeps the letter legible over the content
            p = max(1, lh // 5)
            ImageDraw.Draw(canvas).rectangle((label_xy[0], label_xy[1], label_xy[0] + lw + p - 1,
                                              label_xy[1] + lh + p - 1), fill=style.bg)
        elif rng.random() < 0.05:
            colour = (200, 0, 0) if sum(style.bg) >= 384 else (255, 255, 0)
    canvas.paste(Image.new("RGB", (lw, lh), colour), label_xy, Image.fromarray(mask))
    label_box = (label_xy[0], label_xy[1], label_xy[0] + lw, label_xy[1] + lh)
    return _union(drawn, label_box), label_box


def _raw_letter(text: str, fmt: str) -> str | None:
    """"A" from "(A)" printed with format "({})"; None unless it is a single letter."""
    pre, post = fmt.split("{}")
    raw = text[len(pre) : len(text) - len(post) if post else None]
    return raw if re.fullmatch(r"[A-Za-z]", raw) else None


def _draw_nested(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, slot: Rect, style: _Style,
                 text: str, corner: str, variant: str, parts: list[str]
                 ) -> tuple[list[tuple[Rect, list[Rect]]], list[Rect]] | None:
    """Panel "A" split into 2-3 sub-labelled panels (gold convention 3). Variants:
    full - each sub-panel prints its full name (Ai, Aii / b1, b2), no separate parent letter;
    attached - the parent letter sits just left of the first sub-panel, whose box includes it,
      and the sub-panels print i, ii, iii (or 1, 2);
    section - the parent letter heads the group with a few words (a section heading, outside every
      panel box: the parent alone is not a panel) and the sub-panels print i, ii (or 1, 2).
    Returns [(panel box, its label boxes)], [label boxes outside panels]; None if the slot is too small."""
    assert style.labels is not None
    raw = _raw_letter(text, style.labels.fmt)
    x1, y1, x2, y2 = slot
    if raw is None or min(x2 - x1, y2 - y1) < 90:
        return None
    k = int(rng.integers(2, 4))
    roman = rng.random() < 0.6
    subs = [ROMAN[j] if roman else str(j + 1) for j in range(k)]
    if roman and raw.isupper() and rng.random() < 0.3:
        subs = [t.upper() for t in subs]
    fmt = style.labels.fmt
    side = min(x2 - x1, y2 - y1)
    cap_parent = max(7.0, min(style.cap_h, 0.15 * side))
    cap = max(7.0, min(cap_parent * rng.uniform(0.75, 1.0), 0.2 * side / k))
    if variant == "full":
        texts = [fmt.format(raw + t) for t in subs]
    else:
        texts = [fmt.format(t) if rng.random() < 0.5 else t for t in subs]
    ink = WHITE if sum(style.bg) < 384 else BLACK
    region, attached, free = slot, None, []
    if variant in ("attached", "section"):
        pmask = glyph_mask(text, style.labels.font, cap_parent)
        ph, pw = pmask.shape
        gap = max(2, int(ph * rng.uniform(0.3, 0.8)))
        if variant == "attached":
            region = (x1 + pw + gap, y1, x2, y2)
        else:
            region = (x1, y1 + ph + gap + int(ph * 0.5), x2, y2)
            words = deco.header_words(rng, int(rng.integers(1, 3)))
            deco.text_line(rng, canvas, (x1 + pw + gap * 2, y1), ph * 0.8, words, ink, x2 - x1 - pw - 3 * gap)
        canvas.paste(Image.new("RGB", (pw, ph), ink), (x1, y1), Image.fromarray(pmask))
        parent = (x1, y1, x1 + pw, y1 + ph)
        if variant == "attached":
            attached = parent
        else:
            free.append(parent)
    rx1, ry1, rx2, ry2 = region
    vertical = (ry2 - ry1) > (rx2 - rx1) * rng.uniform(0.6, 1.4)
    gap = 0 if rng.random() < 0.3 else int(rng.integers(2, 9))
    span = (ry2 - ry1 if vertical else rx2 - rx1) - gap * (k - 1)
    size = span / k
    if size < 40 or (vertical and rx2 - rx1 < 40) or (not vertical and ry2 - ry1 < 40):
        return None if variant == "full" else ([], free + ([attached] if attached else []))
    out: list[tuple[Rect, list[Rect]]] = []
    for j in range(k):
        a = int((ry1 if vertical else rx1) + j * (size + gap))
        b = int(a + size)
        sub = (rx1, a, rx2, b) if vertical else (a, ry1, b, ry2)
        box, lab = _draw_panel(rng, canvas, pool, sub, style, texts[j], corner, allow_block=False, cap_h=cap)
        labs = [lab] if lab else []
        if j == 0 and attached:
            box = _union(box, attached)
            labs.append(attached)
        out.append((box, labs))
    parts.append(f"nested:{variant}")
    return out, free


def _figure_style(rng: np.random.Generator, layout: Layout, slots: list[Rect], order: list[int],
                  stats: dict, mix_rates: Mix, dense: bool = False) -> _Style:
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
    cap_h = float(np.clip(cap_h, 7, min(22 if dense else 64, max(7, 0.3 * sides[0]))))
    mix = sample_discrete(rng, {"charts": 0.35, "pictures": 0.3, "mixed": 0.35}) if bg == WHITE else "pictures"
    kinds = {"charts": {"chart": 0.85, "picture": 0.1, "grid": 0.05},
             "pictures": {"chart": 0.05, "picture": 0.7, "grid": 0.25},
             "mixed": {"chart": 0.5, "picture": 0.35, "grid": 0.15}}[mix]
    allowed = {"charts": CHART_BLOCKS, "pictures": PICTURE_BLOCKS}.get(mix, CHART_BLOCKS + PICTURE_BLOCKS)
    return _Style(
        bg=bg, labels=labels, cap_h=cap_h, kinds=kinds,
        chart_mode=sample_discrete(rng, mix_rates.chart_label),
        picture_mode=sample_discrete(rng, mix_rates.picture_label),
        label_box_p=float(rng.choice([0.0, 0.0, 0.5, 1.0])),
        block_p=float(rng.choice(mix_rates.block_share)) if labels else 0.0,
        block_kinds={k: v for k, v in mix_rates.blocks.items() if k in allowed} or dict(mix_rates.blocks),
    )


def _corner_of(layout: Layout, i: int, rng: np.random.Generator, stats: dict) -> str:
    """Where the label sits in panel i: the real layout's corner if it had one, else drawn from stats."""
    p = layout.panels[i]
    if p.label_box is not None:
        cx = ((p.label_box[0] + p.label_box[2]) / 2 - p.box[0]) / max(1.0, p.box[2] - p.box[0])
        cy = ((p.label_box[1] + p.label_box[3]) / 2 - p.box[1]) / max(1.0, p.box[3] - p.box[1])
        return ("t" if cy < 1 / 3 else "b" if cy > 2 / 3 else "m") + ("l" if cx < 1 / 3 else "r" if cx > 2 / 3 else "c")
    return sample_discrete(rng, stats["label_position"])


def make_figure(rng: np.random.Generator, sampler: LayoutSampler, pool: ContentPool, stats: dict,
                width_range: tuple[int, int] = (300, 1600), mix: Mix | None = None) -> SynthFigure:
    """One figure of the recipe: draw its mode (standard | dense | butted), then its layout and content."""
    mix = mix or Mix()
    mode = sample_discrete(rng, mix.figure)
    if mode == "butted":
        return compose_butted(rng, pool, stats, width_range, mix)
    if mode == "dense":
        n = int(rng.integers(mix.dense_panels[0], mix.dense_panels[1] + 1))
        lo = max(width_range[0], min(900, width_range[1]))
        return compose_figure(rng, procedural_layout(rng, stats, n), pool, stats, (lo, width_range[1]), mix, dense=True)
    return compose_figure(rng, sampler.sample(rng), pool, stats, width_range, mix)


def compose_figure(rng: np.random.Generator, layout: Layout, pool: ContentPool, stats: dict,
                   width_range: tuple[int, int] = (300, 1600), mix: Mix | None = None,
                   dense: bool = False) -> SynthFigure:
    """Render `layout` with contents from `pool`; return the (lossless) image and its boxes."""
    mix = mix or Mix()
    parts = ["dense" if dense else "standard"]
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
    style = _figure_style(rng, layout, slots, order, stats, mix, dense)
    # Gutters: unlabelled panels must look separate; labelled ones may touch.
    inset = int(rng.integers(2, 6)) if style.labels is None and len(slots) > 1 else int(rng.integers(0, 3))
    slots = [(s[0] + inset, s[1] + inset, s[2] - inset, s[3] - inset) for s in slots]
    canvas = Image.new("RGB", (cw, ch), style.bg)
    nested: dict[int, str] = {}
    letters = style.labels is not None and all(_raw_letter(t, style.labels.fmt) for t in style.labels.texts)
    if letters and len(slots) >= 2 and rng.random() < mix.nested:  # not under roman or A1/A2 sequences
        big = [r for r, i in enumerate(order) if min(slots[i][2] - slots[i][0], slots[i][3] - slots[i][1]) >= 90]
        for r in rng.permutation(big)[: 1 + int(rng.random() < 0.3)]:
            nested[int(r)] = sample_discrete(rng, mix.nested_variants)

    entries: list[tuple[Rect, list[Rect]]] = []  # panel box (before tightening), its label boxes
    free: list[Rect] = []  # section letters: printed labels outside every panel
    for rank, i in enumerate(order):
        slot = slots[i]
        if slot[2] - slot[0] < 8 or slot[3] - slot[1] < 8:
            continue
        text = style.labels.texts[rank] if style.labels else None
        corner = _corner_of(layout, i, rng, stats)
        if rank in nested and text:
            got = _draw_nested(rng, canvas, pool, slot, style, text, corner, nested[rank], parts)
            if got is not None:
                entries += got[0]
                free += got[1]
                continue
        box, label_box = _draw_panel(rng, canvas, pool, slot, style, text, corner, parts)
        entries.append((box, [label_box] if label_box else []))

    tight: list[Rect] = []
    for box, labs in entries:
        ink = ink_bbox_image(canvas.crop(box), style.bg)
        t = box if ink is None else (box[0] + ink[0], box[1] + ink[1], box[0] + ink[2], box[1] + ink[3])
        for lab in labs:
            t = _union(t, lab)
        tight.append(t)

    _draw_extras(rng, canvas, style, tight, extra_top, extra_bottom, margin, obstacles=free)
    labels = [lab for _, labs in entries for lab in labs] + free
    ann = [Annotation(PANEL, b) for b in tight] + [Annotation(LABEL, b) for b in labels]
    return SynthFigure(canvas, ann, style.bg, parts)


BUTTED_GRIDS = ((1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4), (2, 5), (4, 4))


def compose_butted(rng: np.random.Generator, pool: ContentPool, stats: dict,
                   width_range: tuple[int, int] = (300, 1600), mix: Mix | None = None) -> SynthFigure:
    """Pictures butted edge to edge with no gutter (CT/MRI slices, micrographs): each is a SEPARATE
    panel (gold convention 4: the boundary is where the content changes). Unlabelled, or each with
    its own label inside. Rows are sometimes separated by a gutter, columns never."""
    mix = mix or Mix()
    rows, cols = BUTTED_GRIDS[int(rng.integers(len(BUTTED_GRIDS)))]
    slices = bool(pool.slices) and rng.random() < 0.55
    width = float(np.exp(rng.uniform(np.log(width_range[0]), np.log(width_range[1]))))
    tw = max(24, int(width / cols))
    th = max(24, int(tw * (rng.uniform(0.85, 1.2) if slices else rng.uniform(0.6, 1.3))))
    row_gap = int(rng.integers(3, 12)) if rows > 1 and rng.random() < 0.3 else 0
    margin = int(rng.integers(2, 14))
    r = rng.random()
    bg = WHITE if r < 0.85 else (int(rng.integers(230, 251)),) * 3
    canvas = Image.new("RGB", (cols * tw + 2 * margin, rows * th + row_gap * (rows - 1) + 2 * margin), bg)
    labelled = rng.random() < mix.butted_labelled
    labels_style = sample_label_style(rng, rows * cols, stats) if labelled else None
    cap_h = float(np.clip(sample_quantiles(rng, stats["label_height_to_panel_side"]) * min(tw, th), 7, max(7, 0.25 * min(tw, th))))
    corner = sample_discrete(rng, {"tl": 0.7, "tr": 0.1, "bl": 0.15, "br": 0.05})
    boxed = rng.random() < 0.25
    panels: list[Rect] = []
    labels: list[Rect] = []
    source = pool.slices if slices else pool.pictures
    same_src = int(rng.integers(len(source)))
    for i in range(rows):
        for j in range(cols):
            x, y = margin + j * tw, margin + i * (th + row_gap)
            rect = (x, y, x + tw, y + th)
            # neighbours must differ: another source, or another crop of the same one
            src = source[same_src if rng.random() < 0.4 else int(rng.integers(len(source)))]
            a = tw / th
            cw, chh = (src.width, src.width / a) if src.width / src.height < a else (src.height * a, src.height)
            f = rng.uniform(0.75, 1.0) if slices else rng.uniform(0.3, 0.9)
            cw, chh = cw * f, chh * f
            ox, oy = rng.uniform(0, src.width - cw + 1e-6), rng.uniform(0, src.height - chh + 1e-6)
            tile = src.resize((tw, th), Image.BILINEAR, box=(ox, oy, ox + cw, oy + chh), reducing_gap=2.0)
            tile = ImageEnhance.Contrast(tile).enhance(rng.uniform(0.8, 1.3)) if slices else _recolour(rng, tile)
            canvas.paste(tile, rect[:2])
            text_px = max(6.0, cap_h * 0.8)
            if rng.random() < 0.3:
                _decorate_picture(rng, canvas, pool, rect, text_px, corner)
            ink = ink_bbox_image(canvas.crop(rect), bg)  # a white-edged picture is tight on its ink
            panels.append(rect if ink is None else (x + ink[0], y + ink[1], x + ink[2], y + ink[3]))
            if labels_style:
                mask = glyph_mask(labels_style.texts[i * cols + j], labels_style.font, cap_h)
                lh, lw = mask.shape
                if lw < tw - 4 and lh < th - 4:
                    lx, ly = _place_overlay(rng, rect, (lw, lh), corner)
                    under = np.asarray(canvas.crop((lx, ly, lx + lw, ly + lh)))
                    colour = WHITE if under.mean() < 110 else BLACK
                    if boxed:
                        p = max(1, lh // 5)
                        ImageDraw.Draw(canvas).rectangle((lx - p, ly - p, lx + lw + p - 1, ly + lh + p - 1),
                                                         fill=BLACK if colour == WHITE else WHITE)
                    canvas.paste(Image.new("RGB", (lw, lh), colour), (lx, ly), Image.fromarray(mask))
                    labels.append((lx, ly, lx + lw, ly + lh))
                    panels[-1] = _union(panels[-1], labels[-1])
    ann = [Annotation(PANEL, b) for b in panels] + [Annotation(LABEL, b) for b in labels]
    return SynthFigure(canvas, ann, bg, ["butted", f"grid:{rows}x{cols}", "slices" if slices else "pictures"])


def _draw_extras(rng: np.random.Generator, canvas: Image.Image, style: _Style, boxes: list[Rect],
                 extra_top: int, extra_bottom: int, margin: int, obstacles: list[Rect] | None = None) -> None:
    """Non-panel ink: frames, separators, shared headers/legends, caption lines (outside all boxes)."""
    ink = WHITE if sum(style.bg) < 384 else BLACK
    if rng.random() < 0.1 and not obstacles:
        deco.frames(rng, canvas, boxes, ink if rng.random() < 0.5 else (128, 128, 128))
    if len(boxes) > 1 and rng.random() < 0.08 and not obstacles:
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
