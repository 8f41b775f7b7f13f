"""Label-owned multi-content panels: several pictures or plots that share ONE printed label.

Real figures print one letter over a whole block of content: a grid of micrographs with channel
names over the columns and genotypes beside the rows, a row of small charts, heat maps sharing one
colour bar, a time-lapse strip, a column of flow-cytometry plots with gates, a blot with lane
headers. The gold convention (the label decides what a panel is) makes each block ONE panel, headers
included when they serve only that block. The detector over-split exactly these (issue 12: 2 gold
panels came back as 13), so the generator draws them as one panel box with one label box.

Every block is drawn inside the rectangle it is given (the panel box is then measured on the ink)
and returns `Block`: what it covers, and the first tile, where a label printed inside the block sits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from subfigure_detector.synth.charts import GENES, WORDS
from subfigure_detector.synth.label_styles import load_font
from subfigure_detector.synth.pool import ContentPool

Rect = tuple[int, int, int, int]
CHANNELS = ["DAPI", "GFP", "mCherry", "Phalloidin", "Tubulin", "Hoechst", "F-actin", "LC3", "TOM20", "Ki67",
            "CD31", "α-SMA", "E-cad", "Vimentin", "YAP", "BF"]
CONDITIONS = ["WT", "KO", "Ctrl", "siCtrl", "siRNA", "Vehicle", "Drug", "+/+", "−/−", "Het", "Sham", "Mock",
              "DMSO", "LPS", "0 nM", "10 nM", "100 nM", "Young", "Aged", "Naive"]
HEAT_CMAPS = ["RdBu_r", "bwr", "coolwarm", "viridis", "magma", "YlOrRd", "Blues", "seismic", "PiYG", "inferno"]
CHANNEL_COLOURS = [(0.25, 0.45, 1.0), (0.1, 1.0, 0.2), (1.0, 0.15, 0.15), (1.0, 0.2, 1.0), (1.0, 1.0, 0.2), (1, 1, 1)]


@dataclass(frozen=True)
class Block:
    box: Rect  # everything the block drew lies inside
    first: Rect  # the first (top-left) tile: a label printed inside the block goes on it


def _ink(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    return (255, 255, 255) if sum(bg) < 384 else (0, 0, 0)


def _font(rng: np.random.Generator, px: float):
    name = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "STIXGeneral.ttf"][int(rng.integers(4))]
    return load_font(name, max(6, int(px)))


def _text_fit(canvas: Image.Image, font, text: str, box: Rect, colour, rotate: bool = False, align: str = "c") -> None:
    """Write `text` centred in `box` (rotated 90° for row headers); shrink it away if it does not fit."""
    d = ImageDraw.Draw(canvas)
    l, t, r, b = d.textbbox((0, 0), text, font=font)
    tw, th = r - l, b - t
    bw, bh = box[2] - box[0], box[3] - box[1]
    if rotate:
        if tw > bh or th > bw:
            return
        im = Image.new("L", (tw, th), 0)
        ImageDraw.Draw(im).text((-l, -t), text, font=font, fill=255)
        im = im.rotate(90, expand=True)
        canvas.paste(Image.new("RGB", im.size, colour), (box[0] + (bw - im.width) // 2, box[1] + (bh - im.height) // 2), im)
        return
    if tw > bw or th > bh:
        return
    x = box[0] + ((bw - tw) // 2 if align == "c" else 0 if align == "l" else bw - tw)
    d.text((x - l, box[1] + (bh - th) // 2 - t), text, font=font, fill=colour)


def _crop(rng: np.random.Generator, src: Image.Image, w: int, h: int, window=None) -> tuple[Image.Image, tuple]:
    """A w x h tile cut from `src` (a random window, or `window` = (x, y, cw, ch) when given)."""
    if window is None:
        a = w / h
        cw, ch = (src.width, src.width / a) if src.width / src.height < a else (src.height * a, src.height)
        f = rng.uniform(0.3, 0.9)
        cw, ch = max(4.0, cw * f), max(4.0, ch * f)
        window = (rng.uniform(0, src.width - cw + 1e-6), rng.uniform(0, src.height - ch + 1e-6), cw, ch)
    x, y, cw, ch = window
    tile = src.resize((w, h), Image.BILINEAR, box=(x, y, x + cw, y + ch), reducing_gap=2.0)
    return tile, window


def _channel(tile: Image.Image, colour: tuple[float, float, float]) -> Image.Image:
    grey = np.asarray(tile.convert("L"), np.float32)
    return Image.fromarray(np.clip(grey[..., None] * np.asarray(colour), 0, 255).astype(np.uint8))


def _grid_geometry(rect: Rect, rows: int, cols: int, gap: int, top: int, left: int):
    x1, y1, x2, y2 = rect
    cw = (x2 - x1 - left - gap * (cols - 1)) / cols
    ch = (y2 - y1 - top - gap * (rows - 1)) / rows
    cells = [[(int(x1 + left + j * (cw + gap)), int(y1 + top + i * (ch + gap)),
               int(x1 + left + j * (cw + gap) + cw), int(y1 + top + i * (ch + gap) + ch)) for j in range(cols)]
             for i in range(rows)]
    return cw, ch, cells


def picture_grid(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
                 bg: tuple[int, int, int]) -> Block | None:
    """Pictures in rows x columns, with column headers (channels, times) and/or row headers
    (genotypes, conditions); thin white gutters or none."""
    x1, y1, x2, y2 = rect
    rows, cols = [(1, 2), (1, 3), (1, 4), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4), (2, 5), (4, 4), (3, 2), (4, 3)][
        int(rng.integers(12))]
    gap = 0 if rng.random() < 0.35 else int(rng.integers(1, 5))
    col_head = rng.random() < 0.7 and text_px >= 6
    row_head = rows > 1 and rng.random() < 0.5 and text_px >= 6
    rotate = rng.random() < 0.6
    font = _font(rng, text_px)
    top = int(text_px * 1.6) if col_head else 0
    left = 0
    row_words = [CONDITIONS[int(k)] for k in rng.choice(len(CONDITIONS), rows, replace=False)]
    if row_head:
        d = ImageDraw.Draw(canvas)
        left = int(text_px * 1.6) if rotate else int(max(d.textlength(w, font=font) for w in row_words)) + 8
    cw, ch, cells = _grid_geometry(rect, rows, cols, gap, top, left)
    if cw < 10 or ch < 10 or left > 0.35 * (x2 - x1):
        return None
    channels = rng.random() < 0.55  # columns = channels of one field (+ merge), rows = conditions
    col_words = ([CHANNELS[int(k)] for k in rng.choice(len(CHANNELS), cols - 1, replace=False)] + ["Merge"]
                 if channels else [CONDITIONS[int(k)] for k in rng.choice(len(CONDITIONS), cols, replace=False)])
    colours = [CHANNEL_COLOURS[int(k)] for k in rng.choice(5, cols, replace=True)]
    ink = _ink(bg)
    for i in range(rows):
        src = pool.pictures[int(rng.integers(len(pool.pictures)))]
        base, window = _crop(rng, src, int(cw), int(ch))
        for j in range(cols):
            cell = cells[i][j]
            w, h = cell[2] - cell[0], cell[3] - cell[1]
            if channels:
                tile = base.resize((w, h)) if j == cols - 1 else _channel(base.resize((w, h)), colours[j])
            else:
                src = pool.pictures[int(rng.integers(len(pool.pictures)))] if rng.random() < 0.3 else src
                tile, _ = _crop(rng, src, w, h)
            canvas.paste(tile, cell[:2])
        if row_head:
            c0 = cells[i][0]
            _text_fit(canvas, font, row_words[i], (x1, c0[1], x1 + left - 2, c0[3]), ink, rotate, "r")
    if col_head:
        for j in range(cols):
            c = cells[0][j]
            _text_fit(canvas, font, col_words[j], (c[0], y1, c[2], y1 + top - 2), ink)
    _scale_bar(rng, canvas, cells[-1][-1])
    return Block(rect, cells[0][0])


def timelapse(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
              bg: tuple[int, int, int]) -> Block | None:
    """Frames of one field over time in a strip (or two), time points above or stamped inside."""
    x1, y1, x2, y2 = rect
    vertical = (y2 - y1) > 1.8 * (x2 - x1)
    n = int(rng.integers(3, 9))
    rows, cols = (n, 1) if vertical else ((2, (n + 1) // 2) if rng.random() < 0.2 else (1, n))
    gap = 0 if rng.random() < 0.4 else int(rng.integers(1, 4))
    stamp_inside = rng.random() < 0.5 or vertical
    top = 0 if stamp_inside or text_px < 6 else int(text_px * 1.6)
    cw, ch, cells = _grid_geometry(rect, rows, cols, gap, top, 0)
    if cw < 10 or ch < 10:
        return None
    src = pool.pictures[int(rng.integers(len(pool.pictures)))]
    _, (wx, wy, ww, wh) = _crop(rng, src, int(cw), int(ch))
    step = rng.choice([1, 2, 5, 10, 15, 30])
    unit = ["min", "h", "s", "d"][int(rng.integers(4))]
    font = _font(rng, max(6.0, text_px * (0.8 if stamp_inside else 1.0)))
    drift = rng.normal(0, 0.04, 2) * (ww, wh)
    clock = rng.random() < 0.2
    k = 0
    for i in range(rows):
        for j in range(cols):
            if k >= n:
                break
            cell = cells[i][j]
            w, h = cell[2] - cell[0], cell[3] - cell[1]
            window = (np.clip(wx + k * drift[0], 0, max(0, src.width - ww)), np.clip(wy + k * drift[1], 0, max(0, src.height - wh)), ww, wh)
            tile, _ = _crop(rng, src, w, h, window)
            canvas.paste(tile, cell[:2])
            t = f"{k * step // 60:02d}:{k * step % 60:02d}" if clock else f"{k * step} {unit}"
            if stamp_inside:
                region = np.asarray(canvas.crop(cell))
                col = (255, 255, 255) if region.mean() < 110 else (0, 0, 0)
                m = max(2, int(0.05 * w))
                _text_fit(canvas, font, t, (cell[0] + m, cell[3] - m - int(text_px * 1.3), cell[2] - m, cell[3] - m), col,
                          align="r" if rng.random() < 0.5 else "l")
            else:
                _text_fit(canvas, font, t, (cell[0], y1, cell[2], y1 + top - 2), _ink(bg))
            k += 1
    return Block(rect, cells[0][0])


def chart_row(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
              bg: tuple[int, int, int]) -> Block | None:
    """2-6 small charts side by side (or stacked) under one label: separate axes from the chart
    pool, or shared axes / flow plots pre-rendered together (the pool's multi-plot images)."""
    x1, y1, x2, y2 = rect
    if len(pool.multis) > 1 and rng.random() < 0.5:
        return _paste_multi(rng, canvas, pool, rect, flow=False)
    w, h = x2 - x1, y2 - y1
    vertical = h > 1.5 * w if rng.random() < 0.8 else h > w
    n = int(rng.integers(2, 7))
    gap = int(rng.integers(2, 10))
    rows, cols = (n, 1) if vertical else (1, n)
    if not vertical and n >= 4 and h > 0.6 * w and rng.random() < 0.5:
        rows, cols = 2, (n + 1) // 2
    cw, ch, cells = _grid_geometry(rect, rows, cols, gap, 0, 0)
    if cw < 24 or ch < 24:
        return None
    used = [c for row in cells for c in row][:n]
    aspect = cw / ch
    cand = rng.choice(len(pool.charts), size=min(16, len(pool.charts)), replace=False)
    best = cand[np.argsort(np.abs(np.log(pool.chart_aspects[cand] / aspect)))]
    same = rng.random() < 0.5  # repeats of one chart style look like one experiment's conditions
    for k, cell in enumerate(used):
        chart = pool.charts[int(best[0 if same else k % len(best)])]
        im = chart.resize((cell[2] - cell[0], cell[3] - cell[1]), Image.BILINEAR, reducing_gap=2.0)
        canvas.paste(im, cell[:2])
    return Block((x1, y1, max(c[2] for c in used), max(c[3] for c in used)), used[0])


def _paste_multi(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect,
                 flow: bool) -> Block | None:
    x1, y1, x2, y2 = rect
    w, h = x2 - x1, y2 - y1
    kind = np.arange(0 if flow else 1, len(pool.multis), 2)  # pool.py: flow plots at even indices
    cand = rng.choice(kind, size=min(12, len(kind)), replace=False)
    best = int(cand[np.argmin(np.abs(np.log(pool.multi_aspects[cand] / (w / h))))])
    im = pool.multis[best]
    a = im.width / im.height
    cw, ch = (w, max(8, int(w / a))) if a > w / h else (max(8, int(h * a)), h)
    if cw < 30 or ch < 30:
        return None
    canvas.paste(im.resize((cw, ch), Image.BILINEAR, reducing_gap=2.0), (x1, y1))
    return Block((x1, y1, x1 + cw, y1 + ch), (x1, y1, x1 + cw, y1 + ch))


def flow_column(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
                bg: tuple[int, int, int]) -> Block | None:
    """Flow-cytometry plots (gates, percentages) in a column or row: the pool's multi-plot images."""
    if not pool.multis:
        return None
    return _paste_multi(rng, canvas, pool, rect, flow=True)


@lru_cache(maxsize=16)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def heatmap_block(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
                  bg: tuple[int, int, int]) -> Block | None:
    """2-5 heat maps side by side sharing one colour bar (and the gene names on the left)."""
    x1, y1, x2, y2 = rect
    n = int(rng.integers(2, 6))
    lut = _lut(HEAT_CMAPS[int(rng.integers(len(HEAT_CMAPS)))])
    font = _font(rng, max(6.0, text_px * 0.8))
    d = ImageDraw.Draw(canvas)
    ink = _ink(bg)
    genes = rng.random() < 0.6
    n_rows = int(rng.integers(4, 30))
    left = int(max(d.textlength(g, font=font) for g in GENES)) + 8 if genes else 0
    top = int(text_px * 1.5) if rng.random() < 0.7 else 0
    bar_w = max(6, int((x2 - x1) * 0.04))
    right = bar_w + 4 + int(d.textlength("-2.0", font=font)) + 2
    gap = int(rng.integers(0, 6))
    inner = (x1 + left, y1 + top, x2 - right - 4, y2)
    cw, ch, cells = _grid_geometry(inner, 1, n, gap, 0, 0)
    if cw < 12 or ch < 24 or left > 0.3 * (x2 - x1):
        return None
    base = rng.normal(0, 1, n_rows)
    titles = [CONDITIONS[int(k)] for k in rng.choice(len(CONDITIONS), n, replace=False)]
    for k, cell in enumerate(cells[0]):
        cols = int(rng.integers(2, 12))
        m = base[:, None] + rng.normal(0, 1, (n_rows, cols)) + np.outer(rng.normal(0, 0.7, n_rows), rng.normal(0, 0.7, cols))
        idx = np.clip((m + 3) / 6 * 255, 0, 255).astype(np.uint8)
        tile = Image.fromarray(lut[idx]).resize((cell[2] - cell[0], cell[3] - cell[1]), Image.NEAREST)
        canvas.paste(tile, cell[:2])
        if top:
            _text_fit(canvas, font, titles[k], (cell[0], y1, cell[2], y1 + top - 2), ink)
    c0 = cells[0][0]
    if genes and n_rows <= (c0[3] - c0[1]) / max(6, text_px * 0.8):
        rh = (c0[3] - c0[1]) / n_rows
        for r, g in enumerate(GENES[:n_rows] if n_rows <= len(GENES) else GENES):
            _text_fit(canvas, font, g, (x1, int(c0[1] + r * rh), x1 + left - 3, int(c0[1] + (r + 1) * rh)), ink, align="r")
    # the shared colour bar, as tall as the maps, with three tick values
    bx = cells[0][-1][2] + 4
    bh = c0[3] - c0[1]
    grad = np.repeat(lut[np.linspace(255, 0, bh).astype(int)][:, None, :], bar_w, axis=1)
    canvas.paste(Image.fromarray(grad), (bx, c0[1]))
    for v, frac in (("2", 0.0), ("0", 0.5), ("-2", 1.0)):
        ty = int(c0[1] + frac * (bh - text_px))
        _text_fit(canvas, font, v, (bx + bar_w + 2, ty - 2, x2, ty + int(text_px) + 2), ink, align="l")
    return Block(rect, c0)


def blot_lanes(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
               bg: tuple[int, int, int]) -> Block | None:
    """Western-blot strips stacked, with rows of lane headers (+/−, names) on top and protein
    names (and sizes) beside the strips."""
    x1, y1, x2, y2 = rect
    lanes = int(rng.integers(3, 11))
    strips = int(rng.integers(2, 6))
    heads = int(rng.integers(1, 4))
    font = _font(rng, max(6.0, text_px * 0.85))
    d = ImageDraw.Draw(canvas)
    ink = _ink(bg)
    names = [GENES[int(k)] for k in rng.choice(len(GENES), strips, replace=False)]
    name_w = int(max(d.textlength(g, font=font) for g in names)) + 8
    head_words = [WORDS[int(k)] for k in rng.choice(len(WORDS), heads, replace=False)]
    head_w = int(max(d.textlength(g, font=font) for g in head_words)) + 8
    left = max(name_w, head_w)
    line = int(text_px * 1.4)
    top = heads * line
    sgap = int(rng.integers(2, 8))
    inner = (x1 + left, y1 + top, x2, y2)
    sw = inner[2] - inner[0]
    sh = min(int((inner[3] - inner[1] - sgap * (strips - 1)) / strips), int(sw / lanes * 0.9))
    if sw < 6 * lanes or sh < 8 or left > 0.4 * (x2 - x1):
        return None
    lw = sw / lanes
    for r, word in enumerate(head_words):
        yy = y1 + r * line
        _text_fit(canvas, font, word, (x1, yy, x1 + left - 4, yy + line), ink, align="r")
        signs = ["+" if s else "−" for s in rng.random(lanes) < 0.5]
        for k in range(lanes):
            _text_fit(canvas, font, signs[k], (int(inner[0] + k * lw), yy, int(inner[0] + (k + 1) * lw), yy + line), ink)
    yy, xx = np.mgrid[0:sh, 0:sw]
    for s in range(strips):
        img = np.full((sh, sw), rng.uniform(0.82, 0.97)) + rng.normal(0, 0.02, (sh, sw))
        for k in range(lanes):
            amp = rng.uniform(0.05, 0.9)
            cx, cy = (k + 0.5) * lw, sh / 2 + rng.normal(0, sh * 0.05)
            img -= amp * np.exp(-(((xx - cx) / (lw * 0.38)) ** 6) - ((yy - cy) / (sh * rng.uniform(0.12, 0.25))) ** 2)
        strip = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))
        top_y = inner[1] + s * (sh + sgap)
        canvas.paste(strip.convert("RGB"), (inner[0], top_y))
        _text_fit(canvas, font, names[s], (x1, top_y, x1 + left - 4, top_y + sh), ink, align="r")
    return Block(rect, (inner[0], inner[1], inner[2], inner[1] + sh))


def stack(rng: np.random.Generator, canvas: Image.Image, pool: ContentPool, rect: Rect, text_px: float,
          bg: tuple[int, int, int]) -> Block | None:
    """A picture with its quantification beside or under it, both under one label."""
    x1, y1, x2, y2 = rect
    w, h = x2 - x1, y2 - y1
    gap = int(rng.integers(3, 12))
    if w > h:
        split = int(w * rng.uniform(0.4, 0.6))
        pic, chart = (x1, y1, x1 + split, y2), (x1 + split + gap, y1, x2, y2)
    else:
        split = int(h * rng.uniform(0.45, 0.65))
        pic, chart = (x1, y1, x2, y1 + split), (x1, y1 + split + gap, x2, y2)
    if min(pic[2] - pic[0], pic[3] - pic[1], chart[2] - chart[0], chart[3] - chart[1]) < 24:
        return None
    tile, _ = _crop(rng, pool.pictures[int(rng.integers(len(pool.pictures)))], pic[2] - pic[0], pic[3] - pic[1])
    canvas.paste(tile, pic[:2])
    _scale_bar(rng, canvas, pic)
    cw, ch = chart[2] - chart[0], chart[3] - chart[1]
    cand = rng.choice(len(pool.charts), size=min(16, len(pool.charts)), replace=False)
    best = int(cand[np.argmin(np.abs(np.log(pool.chart_aspects[cand] / (cw / ch))))])
    canvas.paste(pool.charts[best].resize((cw, ch), Image.BILINEAR, reducing_gap=2.0), chart[:2])
    return Block(rect, pic)


def _scale_bar(rng: np.random.Generator, canvas: Image.Image, cell: Rect) -> None:
    if rng.random() < 0.5:
        return
    x1, y1, x2, y2 = cell
    length, thick = int((x2 - x1) * rng.uniform(0.15, 0.3)), max(1, int((y2 - y1) * 0.02))
    m = max(2, int((x2 - x1) * 0.05))
    if length < 4 or y2 - y1 < 4 * m:
        return
    region = np.asarray(canvas.crop((x2 - m - length, y2 - m - thick, x2 - m, y2 - m)))
    col = (255, 255, 255) if region.size == 0 or region.mean() < 110 else (0, 0, 0)
    ImageDraw.Draw(canvas).rectangle((x2 - m - length, y2 - m - thick, x2 - m - 1, y2 - m - 1), fill=col)


BLOCKS: dict[str, Callable[..., Block | None]] = {
    "picture_grid": picture_grid, "timelapse": timelapse, "chart_row": chart_row, "heatmap_block": heatmap_block,
    "flow_column": flow_column, "blot_lanes": blot_lanes, "stack": stack,
}
# Which blocks suit which figure content mix (compose._figure_style).
CHART_BLOCKS = ("chart_row", "heatmap_block", "flow_column", "blot_lanes", "stack")
PICTURE_BLOCKS = ("picture_grid", "timelapse", "stack")


def draw_block(rng: np.random.Generator, kind: str, canvas: Image.Image, pool: ContentPool, rect: Rect,
               text_px: float, bg: tuple[int, int, int]) -> Block | None:
    """Draw block `kind` into `rect`; None when `rect` is too small for it (nothing drawn then)."""
    return BLOCKS[kind](rng, canvas, pool, rect, text_px, bg)
