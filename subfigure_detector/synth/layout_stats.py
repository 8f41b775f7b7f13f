"""Aggregate layout statistics from the real layout CSVs, for the procedural fallback.

Only distributions are kept (histograms and 21 evenly spaced quantiles), never a figure's boxes, so
`layout_stats.json` may ship with figmine although the CSVs may not.

    python -m subfigure_detector.synth.layout_stats [--layouts DIR] [--out layout_stats.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from subfigure_detector.synth.layouts import DEFAULT_LAYOUTS_DIR, STATS_PATH, Layout, load_real_layouts, rows_of

_Q = np.linspace(0, 1, 21)


def _quantiles(values: list[float], lo: float | None = None, hi: float | None = None) -> list[float]:
    v = np.asarray(values, dtype=float)
    if lo is not None or hi is not None:
        v = np.clip(v, lo, hi)
    return [round(float(x), 4) for x in np.quantile(v, _Q)]


def _hist(counter: Counter, min_count: int = 1) -> dict[str, float]:
    total = sum(counter.values())
    return {str(k): round(c / total, 5) for k, c in sorted(counter.items()) if c >= min_count}


def _gutters(layout: Layout, rows: list[list[int]]) -> list[float]:
    """Horizontal gaps between neighbours within each row, relative to the canvas width."""
    out = []
    for members in rows:
        xs = sorted(layout.panels[i].box for i in members)
        for a, b in zip(xs, xs[1:]):
            out.append(max(0.0, b[0] - a[2]) / layout.width)
    return out


Box4 = tuple[float, float, float, float]


def _corner(panel: Box4, label: Box4) -> str:
    cx = ((label[0] + label[2]) / 2 - panel[0]) / max(1.0, panel[2] - panel[0])
    cy = ((label[1] + label[3]) / 2 - panel[1]) / max(1.0, panel[3] - panel[1])
    h = "l" if cx < 1 / 3 else ("r" if cx > 2 / 3 else "c")
    v = "t" if cy < 1 / 3 else ("b" if cy > 2 / 3 else "m")
    return v + h


def _label_kind(text: str) -> str:
    if len(text) > 1:
        return "multi"
    if text.isdigit():
        return "digit"
    return "upper" if text.isupper() else "lower"


def derive_stats(layouts: list[Layout]) -> dict:
    count = Counter(min(len(l.panels), 30) for l in layouts)
    rows_given: dict[int, Counter] = {}
    figure_aspect, panel_aspect, gutters = [], [], []
    regular_rows = total_rows = 0
    label_h, label_inset_x, label_inset_y = [], [], []
    corners: Counter = Counter()
    kinds: Counter = Counter()
    labelled = panelseg = 0
    for lay in layouts:
        n = len(lay.panels)
        rows = rows_of([p.box for p in lay.panels])
        rows_given.setdefault(min(n, 16), Counter())[len(rows)] += 1
        figure_aspect.append(lay.width / lay.height)
        for p in lay.panels:
            panel_aspect.append((p.box[2] - p.box[0]) / max(1.0, p.box[3] - p.box[1]))
        if n > 1:
            gutters.extend(_gutters(lay, rows))
            for members in rows:
                total_rows += 1
                hs = [lay.panels[i].box[3] - lay.panels[i].box[1] for i in members]
                regular_rows += max(hs) - min(hs) <= 0.05 * max(hs)
        if lay.source == "panelseg":
            panelseg += 1
            labelled += lay.has_labels
            for p in lay.panels:
                if p.label_box is None:
                    continue
                ph = p.box[3] - p.box[1]
                pw = p.box[2] - p.box[0]
                label_h.append((p.label_box[3] - p.label_box[1]) / max(1.0, min(ph, pw)))
                label_inset_x.append((p.label_box[0] - p.box[0]) / max(1.0, pw))
                label_inset_y.append((p.label_box[1] - p.box[1]) / max(1.0, ph))
                corners[_corner(p.box, p.label_box)] += 1
                kinds[_label_kind(p.label_text or "")] += 1
    return {
        "note": "Aggregate statistics of real PMC figure layouts (PanelSeg + ImageCLEF 2016 training "
        "ground truth); quantile lists are 21 evenly spaced quantiles.",
        "n_figures": len(layouts),
        "panel_count": _hist(count),
        "rows_given_count": {str(k): _hist(v) for k, v in sorted(rows_given.items())},
        "figure_aspect": _quantiles(figure_aspect, 0.1, 10),
        "panel_aspect": _quantiles(panel_aspect, 0.2, 5),
        "gutter_frac": _quantiles(gutters, 0.0, 0.1),
        "regular_row_fraction": round(regular_rows / max(1, total_rows), 4),
        "labelled_fraction": round(labelled / max(1, panelseg), 4),
        "label_height_to_panel_side": _quantiles(label_h, 0.01, 0.5),
        "label_inset_x": _quantiles(label_inset_x, -0.2, 1.0),
        "label_inset_y": _quantiles(label_inset_y, -0.2, 1.0),
        "label_position": _hist(corners),
        "label_kind": _hist(kinds),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", type=Path, default=DEFAULT_LAYOUTS_DIR)
    ap.add_argument("--out", type=Path, default=STATS_PATH)
    args = ap.parse_args(argv)
    layouts = load_real_layouts(args.layouts)
    if not layouts:
        raise SystemExit(f"no layout CSVs under {args.layouts}")
    args.out.write_text(json.dumps(derive_stats(layouts), indent=1) + "\n")
    print(f"{len(layouts)} layouts -> {args.out}")


if __name__ == "__main__":
    main()
