"""Figure layouts: where the panels (and their printed labels) of a compound figure sit.

Two sources, one type:
- `load_real_layouts(dir)`: panel and label boxes people drew on real PMC figures (PanelSeg's
  `panelseg_train.csv`: panels + label boxes + letters; ImageCLEF 2016's `imageclef2016_train.csv`:
  panels only). The CSVs cannot ship with figmine (no licence to redistribute), so they are read
  from a folder at generation time; the canvas is the union of a figure's boxes plus a margin.
- `procedural_layout(rng, stats)`: rows of irregular columns, optionally with a panel spanning
  rows, drawn from the aggregate statistics in `layout_stats.json` (see `layout_stats.py`), so
  generation works without the CSVs (tests, CI).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 (x2/y2 exclusive)

STATS_PATH = Path(__file__).with_name("layout_stats.json")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LAYOUTS_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "compound-figures" / "layouts"


@dataclass(frozen=True)
class PanelSlot:
    """One panel of a layout: its box, and the label box/text where the source had one."""

    box: Box
    label_box: Box | None = None
    label_text: str | None = None


@dataclass(frozen=True)
class Layout:
    """Panels on a canvas of `width` x `height` (arbitrary units; boxes in the same units)."""

    width: float
    height: float
    panels: tuple[PanelSlot, ...]
    source: str  # "panelseg" | "imageclef" | "procedural"

    @property
    def has_labels(self) -> bool:
        return any(p.label_box is not None for p in self.panels)


def load_stats(path: Path = STATS_PATH) -> dict:
    return json.loads(path.read_text())


def _normalise(panels: list[PanelSlot], source: str, margin_frac: float = 0.01) -> Layout | None:
    """Shift boxes so the union of all boxes, plus a thin margin, is the canvas."""
    boxes = [p.box for p in panels] + [p.label_box for p in panels if p.label_box]
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[2] for b in boxes)
    y2 = max(b[3] for b in boxes)
    w, h = x2 - x1, y2 - y1
    if w < 20 or h < 20 or not (0.1 < w / h < 10):
        return None
    m = margin_frac * max(w, h)

    def shift(b: Box) -> Box:
        return (b[0] - x1 + m, b[1] - y1 + m, b[2] - x1 + m, b[3] - y1 + m)

    if _overlapping([p.box for p in panels]):
        return None  # overlapping panels (insets drawn as panels): a pasted panel would cover another's box
    out = []
    for p in panels:
        if p.box[2] - p.box[0] < 4 or p.box[3] - p.box[1] < 4:
            return None
        out.append(PanelSlot(shift(p.box), shift(p.label_box) if p.label_box else None, p.label_text))
    return Layout(w + 2 * m, h + 2 * m, tuple(out), source)


def _overlapping(boxes: list[Box], tolerance: float = 1.0) -> bool:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance:
                return True
    return False


def rows_of(boxes: list[Box]) -> list[list[int]]:
    """Group boxes into rows: a box joins a row when it overlaps the row's span by half its height.

    Returns indices, rows top to bottom, each row left to right (reading order).
    """
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1], boxes[i][0]))
    rows: list[tuple[float, float, list[int]]] = []
    for i in order:
        b = boxes[i]
        for k, (y1, y2, members) in enumerate(rows):
            overlap = min(y2, b[3]) - max(y1, b[1])
            if overlap > 0.5 * min(b[3] - b[1], y2 - y1):
                members.append(i)
                rows[k] = (min(y1, b[1]), max(y2, b[3]), members)
                break
        else:
            rows.append((b[1], b[3], [i]))
    rows.sort(key=lambda r: r[0])
    return [sorted(m, key=lambda i: boxes[i][0]) for _, _, m in rows]


def _read_rows(path: Path) -> dict[str, list[list[str]]]:
    by_figure: dict[str, list[list[str]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 5:
                by_figure[row[0]].append(row)
    return by_figure


def load_real_layouts(directory: Path | str | None = None, max_panels: int = 30) -> list[Layout]:
    """Read the PanelSeg and ImageCLEF CSVs in `directory`; [] when the folder is absent."""
    d = Path(directory) if directory else DEFAULT_LAYOUTS_DIR
    layouts: list[Layout] = []
    panelseg = d / "panelseg_train.csv"
    if panelseg.exists():
        for _, rows in sorted(_read_rows(panelseg).items()):
            panels = []
            for r in rows:
                box = tuple(float(v) for v in r[1:5])
                lab = None
                if len(r) >= 11 and r[6] != "":
                    lab = tuple(float(v) for v in r[6:10])
                panels.append(PanelSlot(box, lab, r[10] if lab else None))  # type: ignore[arg-type]
            if len(panels) <= max_panels and (lay := _normalise(panels, "panelseg")):
                layouts.append(lay)
    clef = d / "imageclef2016_train.csv"
    if clef.exists():
        for _, rows in sorted(_read_rows(clef).items()):
            panels = [PanelSlot(tuple(float(v) for v in r[1:5])) for r in rows]  # type: ignore[misc]
            if len(panels) <= max_panels and (lay := _normalise(panels, "imageclef")):
                layouts.append(lay)
    return layouts


def sample_quantiles(rng: np.random.Generator, quantiles: list[float]) -> float:
    """Draw from a distribution given by evenly spaced quantiles (inverse-CDF interpolation)."""
    q = np.asarray(quantiles, dtype=float)
    u = rng.random() * (len(q) - 1)
    i = int(u)
    return float(q[i] + (q[min(i + 1, len(q) - 1)] - q[i]) * (u - i))


def sample_discrete(rng: np.random.Generator, table: dict[str, float]) -> str:
    keys = list(table)
    p = np.asarray([table[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _split_counts(rng: np.random.Generator, n: int, rows: int) -> list[int]:
    """Distribute n panels over `rows` rows: mostly even, sometimes uneven."""
    base = [n // rows] * rows
    for i in rng.permutation(rows)[: n % rows]:
        base[i] += 1
    if rows > 1 and rng.random() < 0.3:  # move a panel between rows for irregular layouts
        a, b = rng.choice(rows, 2, replace=False)
        if base[a] > 1:
            base[a] -= 1
            base[b] += 1
    return base


def procedural_layout(rng: np.random.Generator, stats: dict, n: int | None = None) -> Layout:
    """Rows of panels with irregular widths/heights, gutters and sometimes a row-spanning panel;
    `n` panels, or a count drawn from the stats."""
    n = int(sample_discrete(rng, stats["panel_count"])) if n is None else n
    rows_table = stats["rows_given_count"].get(str(min(n, 16)))
    rows = int(sample_discrete(rng, rows_table)) if rows_table else max(1, round(np.sqrt(n)))
    rows = min(rows, n)
    counts = _split_counts(rng, n, rows)
    gutter = sample_quantiles(rng, stats["gutter_frac"])
    width = 1000.0
    g = gutter * width
    panels: list[PanelSlot] = []
    # A panel spanning all rows on the left or right (common: a big image beside a stack of plots).
    span = None
    if rows >= 2 and n >= 3 and rng.random() < 0.12:
        span = "left" if rng.random() < 0.6 else "right"
        counts[-1] -= 1
        counts = [c for c in counts if c > 0]
        rows = len(counts)
    span_w = width * rng.uniform(0.3, 0.5) if span else 0.0
    x0 = span_w + g if span == "left" else 0.0
    avail = width - span_w - (g if span else 0.0)
    y = 0.0
    for c in counts:
        aspects = [sample_quantiles(rng, stats["panel_aspect"]) for _ in range(c)]
        if rng.random() < 0.5:  # equal panels in a row (grids) half the time
            aspects = [float(np.median(aspects))] * c
        inner = avail - g * (c - 1)
        # Row height so that panels with these aspects fill the row width.
        h = inner / sum(aspects)
        x = x0
        for a in aspects:
            w = a * h
            panels.append(PanelSlot((x, y, x + w, y + h)))
            x += w + g
        y += h + g
    height = y - g
    if span:
        sx = 0.0 if span == "left" else width - span_w
        panels.insert(0 if span == "left" else len(panels), PanelSlot((sx, 0.0, sx + span_w, height)))
    lay = _normalise(panels, "procedural") if height > 0 else None
    if lay is None:  # degenerate draw (extreme aspect): fall back to a single panel
        return Layout(1000.0, 750.0, (PanelSlot((10.0, 10.0, 990.0, 740.0)),), "procedural")
    return lay


class LayoutSampler:
    """Draws layouts: real ones (when the CSVs are available) mixed with procedural ones."""

    def __init__(self, stats: dict, real: list[Layout], real_fraction: float = 0.7) -> None:
        self.stats = stats
        self.real = real
        self.real_fraction = real_fraction if real else 0.0

    def sample(self, rng: np.random.Generator) -> Layout:
        if self.real and rng.random() < self.real_fraction:
            return self.real[int(rng.integers(len(self.real)))]
        return procedural_layout(rng, self.stats)
