"""A pool of pre-rendered panel contents, built once and recombined into thousands of figures.

Rendering a matplotlib chart costs ~50 ms, composing a figure from ready pieces a few ms, so the
generator renders `n_charts` charts and loads the picture sources once, then every figure crops,
scales and recolours pieces of this pool. The pool depends only on its seed and sizes, never on
the number of worker processes, which keeps generation deterministic.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from subfigure_detector.synth import photos
from subfigure_detector.synth.charts import render_chart, render_multi_chart

# Chart aspect ratios (w/h) rendered; a panel takes the nearest one and stretches it a little.
CHART_ASPECTS = (0.6, 0.8, 1.0, 1.2, 1.45, 1.8, 2.4)


@dataclass
class ContentPool:
    charts: list[Image.Image]
    pictures: list[Image.Image]
    multis: list[Image.Image] = field(default_factory=list)  # rows/columns of small plots (one panel each);
    # the even ones are flow-cytometry plots
    slices: list[Image.Image] = field(default_factory=list)  # grey CT/MRI-like slices, for butted panels
    chart_aspects: np.ndarray = field(init=False)
    multi_aspects: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.chart_aspects = np.array([c.width / c.height for c in self.charts])
        self.multi_aspects = np.array([c.width / c.height for c in self.multis])


def _render_one(args: tuple[int, int]) -> np.ndarray:
    seed, i = args
    rng = np.random.default_rng([seed, 1, i])
    aspect = CHART_ASPECTS[i % len(CHART_ASPECTS)] * rng.uniform(0.9, 1.1)
    return render_chart(rng, aspect)


def _render_multi(args: tuple[int, int]) -> np.ndarray:
    seed, i = args
    rng = np.random.default_rng([seed, 3, i])
    return render_multi_chart(rng, 2 + (i // 2) % 4, vertical=bool(i % 3 == 1), kind="flow" if i % 2 == 0 else None)


def build_pool(seed: int, n_charts: int = 240, n_procedural: int = 48, tiles_dir: Path | None = None,
               workers: int = 1, n_multi: int | None = None) -> ContentPool:
    """Render the charts (in `workers` processes) and load all picture sources.

    `n_multi` rows/columns of small plots (default n_charts // 4, at least 4) are rendered too.
    """
    n_multi = max(4, n_charts // 4) if n_multi is None else n_multi
    jobs = [(seed, i) for i in range(n_charts)]
    multi_jobs = [(seed, i) for i in range(n_multi)]
    if workers > 1 and n_charts > 8:
        with mp.get_context("fork").Pool(workers) as p:
            charts = p.map(_render_one, jobs, chunksize=4)
            multis = p.map(_render_multi, multi_jobs, chunksize=2)
    else:
        charts = [_render_one(j) for j in jobs]
        multis = [_render_multi(j) for j in multi_jobs]
    pictures = photos.packaged_images()
    pictures += photos.procedural_images(np.random.default_rng([seed, 2]), n_procedural)
    pictures += photos.tile_images(tiles_dir)
    slices = photos.procedural_slices(np.random.default_rng([seed, 4]), 16)
    return ContentPool([Image.fromarray(c) for c in charts], [Image.fromarray(p) for p in pictures],
                       [Image.fromarray(m) for m in multis], [Image.fromarray(s) for s in slices])
