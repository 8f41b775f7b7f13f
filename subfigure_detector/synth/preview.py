"""Draw synthetic figures with their boxes on them, to check the box conventions by eye.

    python -m subfigure_detector.synth.preview --out /tmp/synth2 --n 24 [--seed 0] [--mode butted]

Panels in red, labels in blue; the file name says what was drawn (mode, blocks, nested variants).
`--mode` forces one figure mode (standard | dense | butted) or one block kind (picture_grid, ...),
or "nested", by setting the rates in `compose.Mix`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import ImageDraw

from subfigure_detector.synth.blocks import BLOCKS
from subfigure_detector.synth.compose import LABEL, Mix, SynthFigure, make_figure
from subfigure_detector.synth.layouts import DEFAULT_LAYOUTS_DIR, LayoutSampler, load_real_layouts, load_stats
from subfigure_detector.synth.pool import build_pool


def forced_mix(mode: str | None) -> Mix:
    """The default rates, or rates that always draw `mode`."""
    mix = Mix()
    if mode in mix.figure:
        return replace(mix, figure={mode: 1.0})
    if mode in BLOCKS:
        return replace(mix, figure={"standard": 1.0}, block_share=(1.0,), blocks={mode: 1.0})
    if mode == "nested":
        return replace(mix, figure={"standard": 1.0}, nested=1.0)
    if mode is not None:
        raise ValueError(f"unknown mode {mode!r}")
    return mix


def draw_boxes(fig: SynthFigure):
    im = fig.image.copy()
    d = ImageDraw.Draw(im)
    for a in fig.annotations:
        x1, y1, x2, y2 = a.box
        d.rectangle((x1, y1, x2 - 1, y2 - 1), outline=(0, 90, 255) if a.cls == LABEL else (255, 0, 0),
                    width=1 if a.cls == LABEL else 2)
    return im


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", default=None)
    ap.add_argument("--charts", type=int, default=40)
    ap.add_argument("--layouts", type=Path, default=DEFAULT_LAYOUTS_DIR)
    args = ap.parse_args(argv)
    stats = load_stats()
    real = load_real_layouts(args.layouts) if args.layouts.exists() else []
    pool = build_pool(args.seed, args.charts, 12)
    sampler = LayoutSampler(stats, real, 0.6)
    mix = forced_mix(args.mode)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        fig = make_figure(np.random.default_rng([args.seed, 9, i]), sampler, pool, stats, (300, 1600), mix)
        name = "-".join(dict.fromkeys(p.replace(":", "_") for p in fig.parts))[:80]
        draw_boxes(fig).save(args.out / f"{i:03d}-{name}.png")


if __name__ == "__main__":
    main()
