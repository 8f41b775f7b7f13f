"""Write a synthetic compound-figure dataset in the Ultralytics YOLO layout.

    out/
      images/{train,val}/{split}_{i:06d}.jpg
      labels/{train,val}/{split}_{i:06d}.txt   # "cls cx cy w h" normalised; 0 = panel, 1 = label
      data.yaml                                # absolute path, names {0: panel, 1: label}
      recipe.json                              # everything needed to regenerate the same bytes

Figure i of a split depends only on (seed, split, i) and the content pool (itself a function of
the seed and pool sizes), so the output is identical for any number of workers.

    python -m subfigure_detector.synth.dataset --out /work/detector-data/v2 --train 8000 --val 400

Generator 2.0 adds label-owned blocks, touching pictures, nested labels and dense layouts at the
rates of `compose.Mix` (written to recipe.json; `--mix` overrides them).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from subfigure_detector.synth.compose import Mix, SynthFigure, make_figure
from subfigure_detector.synth.layouts import DEFAULT_LAYOUTS_DIR, LayoutSampler, load_real_layouts, load_stats
from subfigure_detector.synth.pool import ContentPool, build_pool

GENERATOR_VERSION = "2.0"
NAMES = {0: "panel", 1: "label"}
SPLITS = {"train": 0, "val": 1}


@dataclass(frozen=True)
class Recipe:
    seed: int
    n_train: int
    n_val: int
    n_charts: int = 240
    n_procedural: int = 48
    width_range: tuple[int, int] = (300, 1600)
    jpeg_quality: tuple[int, int] = (55, 96)
    real_fraction: float = 0.7
    layouts_dir: str | None = None
    n_real_layouts: int = 0
    tiles_dir: str | None = None
    n_multi: int | None = None  # rows/columns of small plots in the pool (None: n_charts // 4)
    mix: dict = field(default_factory=lambda: asdict(Mix()))  # mode rates (compose.Mix)
    generator_version: str = GENERATOR_VERSION


@dataclass
class _Generator:
    recipe: Recipe
    pool: ContentPool
    sampler: LayoutSampler
    stats: dict

    def figure(self, split: str, i: int) -> SynthFigure:
        rng = np.random.default_rng([self.recipe.seed, SPLITS[split], i])
        return make_figure(rng, self.sampler, self.pool, self.stats, self.recipe.width_range, self.mix)

    @property
    def mix(self) -> Mix:
        m = self.recipe.mix
        return Mix(**{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()})

    def encode(self, split: str, i: int) -> tuple[bytes, str]:
        """JPEG bytes and YOLO label text of figure i."""
        fig = self.figure(split, i)
        rng = np.random.default_rng([self.recipe.seed, SPLITS[split], i, 7])
        img = fig.image
        if rng.random() < 0.15:  # a re-scaled, blurrier copy, as in down-sampled PMC previews
            f = rng.uniform(0.5, 0.85)
            img = img.resize((max(8, int(img.width * f)), max(8, int(img.height * f))), Image.BILINEAR).resize(img.size, Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(*self.recipe.jpeg_quality)))
        return buf.getvalue(), yolo_lines(fig)


def yolo_lines(fig: SynthFigure) -> str:
    w, h = fig.image.size
    lines = []
    for a in fig.annotations:
        x1, y1, x2, y2 = (max(0, min(v, lim)) for v, lim in zip(a.box, (w, h, w, h)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lines.append(f"{a.cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return "\n".join(lines) + "\n"


def make_generator(recipe: Recipe, workers: int = 1) -> _Generator:
    real = load_real_layouts(recipe.layouts_dir) if recipe.layouts_dir else []
    if recipe.layouts_dir and not real:
        print(f"no layout CSVs in {recipe.layouts_dir}: procedural layouts only")
    stats = load_stats()
    pool = build_pool(recipe.seed, recipe.n_charts, recipe.n_procedural,
                      Path(recipe.tiles_dir) if recipe.tiles_dir else None, workers, recipe.n_multi)
    gen = _Generator(recipe, pool, LayoutSampler(stats, real, recipe.real_fraction), stats)
    return gen


_GEN: _Generator | None = None  # set in the parent before forking, inherited by workers
_OUT: Path | None = None


def _write_one(job: tuple[str, int]) -> None:
    split, i = job
    assert _GEN is not None and _OUT is not None
    jpeg, labels = _GEN.encode(split, i)
    (_OUT / "images" / split / f"{split}_{i:06d}.jpg").write_bytes(jpeg)
    (_OUT / "labels" / split / f"{split}_{i:06d}.txt").write_text(labels)


def generate_dataset(out_dir: Path | str, recipe: Recipe, workers: int = 2) -> Path:
    """Write the dataset described by `recipe` under `out_dir`; return the data.yaml path."""
    global _GEN, _OUT
    out = Path(out_dir).resolve()
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _GEN, _OUT = make_generator(recipe, workers), out
    recipe = Recipe(**{**asdict(recipe), "n_real_layouts": len(_GEN.sampler.real)})
    t_pool = time.perf_counter() - t0
    jobs = [(s, i) for s, n in (("train", recipe.n_train), ("val", recipe.n_val)) for i in range(n)]
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("fork").Pool(workers) as p:
            for _ in p.imap_unordered(_write_one, jobs, chunksize=8):
                pass
    else:
        for job in jobs:
            _write_one(job)
    elapsed = time.perf_counter() - t0
    _GEN = None
    data_yaml = out / "data.yaml"
    data_yaml.write_text(f"path: {out}\ntrain: images/train\nval: images/val\nnames:\n"
                         + "".join(f"  {k}: {v}\n" for k, v in NAMES.items()))
    info = {**asdict(recipe), "seconds": round(elapsed, 1), "pool_seconds": round(t_pool, 1), "workers": workers}
    (out / "recipe.json").write_text(json.dumps(info, indent=1) + "\n")
    return data_yaml


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate synthetic compound figures (Ultralytics layout).")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--val", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--charts", type=int, default=240, help="charts pre-rendered into the pool")
    ap.add_argument("--layouts", type=Path, default=DEFAULT_LAYOUTS_DIR,
                    help="folder with panelseg_train.csv / imageclef2016_train.csv ('' for procedural only)")
    ap.add_argument("--tiles", type=Path, default=None, help="folder of unannotated figures to crop tiles from")
    ap.add_argument("--real-fraction", type=float, default=0.7)
    ap.add_argument("--mix", type=json.loads, default={},
                    help='JSON overriding mode rates of compose.Mix, e.g. \'{"figure": {"standard": 1}}\'')
    args = ap.parse_args(argv)
    mix = asdict(Mix())
    unknown = set(args.mix) - set(mix)
    if unknown:
        ap.error(f"--mix: unknown keys {sorted(unknown)}; known: {sorted(mix)}")
    mix.update(args.mix)
    layouts = str(args.layouts) if str(args.layouts) not in ("", ".") else None
    recipe = Recipe(seed=args.seed, n_train=args.train, n_val=args.val, n_charts=args.charts,
                    real_fraction=args.real_fraction, layouts_dir=layouts,
                    tiles_dir=str(args.tiles) if args.tiles else None, mix=mix)
    data_yaml = generate_dataset(args.out, recipe, args.workers)
    info = json.loads((data_yaml.parent / "recipe.json").read_text())
    n = args.train + args.val
    print(f"{n} figures in {info['seconds']} s ({n / max(info['seconds'], 1e-9) * 60:.0f}/min incl. "
          f"{info['pool_seconds']} s pool) -> {data_yaml}")


if __name__ == "__main__":
    main()
