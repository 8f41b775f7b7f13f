"""Synthetic compound-figure generation rate (figures per minute), pool build time reported apart.

    python bench/synth_bench.py [--figures 400] [--workers 1 2] [--charts 240] [--layouts DIR]

Writes to a temporary folder and deletes it. Real layouts are used when the shared CSVs exist.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from subfigure_detector.synth.dataset import Recipe, generate_dataset  # noqa: E402
from subfigure_detector.synth.layouts import DEFAULT_LAYOUTS_DIR  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=int, default=400)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--charts", type=int, default=240)
    ap.add_argument("--layouts", type=Path, default=DEFAULT_LAYOUTS_DIR)
    args = ap.parse_args()
    layouts = str(args.layouts) if args.layouts.exists() else None
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = Recipe(seed=0, n_train=args.figures, n_val=0, n_charts=args.charts, layouts_dir=layouts)
            data_yaml = generate_dataset(tmp, recipe, workers)
            info = json.loads((data_yaml.parent / "recipe.json").read_text())
            size = sum(p.stat().st_size for p in Path(tmp, "images").rglob("*.jpg")) / args.figures / 1024
        compose_s = info["seconds"] - info["pool_seconds"]
        print(f"workers={workers}: pool {info['pool_seconds']} s ({args.charts} charts), "
              f"{args.figures} figures in {compose_s:.1f} s = {args.figures / compose_s * 60:.0f} figures/min, "
              f"{size:.0f} KiB/figure, real layouts: {info['n_real_layouts']}")


if __name__ == "__main__":
    main()
