"""Add the real gold figures of the dev split to a YOLO training set (never a test figure).

Synthetic figures teach the detector what panels look like; a few hundred real ones teach it the
styles no generator imitates well (labels centred under pictures, page renders, dense EMBO/eLife
layouts). Only figures that name their article and fall on the dev side of the frozen split
(`evaluate.gold_split`) are used: the test side stays unseen, so its numbers say what the model does
on figures nobody tuned on. Figures marked `difficult` are left out (their panel extents are
ambiguous). Each figure is written `repeat` times (the trainer's augmentations make the copies
differ); its boxes become YOLO lines: panels class 0, label boxes class 1.

    python -m subfigure_detector.real_gold --data /work/detector-data/v2 --gold tests/fixtures/compound-figures/gold-v2 --repeat 8
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

from subfigure_detector.evaluate import GoldFigure, gold_files_of, load_gold
from subfigure_detector.postprocess import Box

PANEL, LABEL = 0, 1


def yolo_line(cls: int, box: Box, width: int, height: int) -> str:
    x1, y1, x2, y2 = (max(0, min(v, lim)) for v, lim in zip(box, (width, height, width, height)))
    return f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def training_figures(gold_paths: Sequence[str | Path]) -> list[GoldFigure]:
    """The dev-side, non-difficult figures of the gold files (figures without an article are refused)."""
    out = []
    for gf in gold_files_of(gold_paths):
        out += [f for f in load_gold(gf) if f.article and f.split == "dev" and not f.difficult]
    return out


def add_real_gold(data_dir: str | Path, gold_paths: Sequence[str | Path], *, repeat: int = 8) -> dict:
    """Write the figures into `data_dir`/images/train and labels/train; returns what was added."""
    data = Path(data_dir)
    images, labels = data / "images" / "train", data / "labels" / "train"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    figures = training_figures(gold_paths)
    for fig in figures:
        assert fig.split == "dev", fig.image  # the test side must never reach training
        src = Path(fig.image).resolve()
        lines = [yolo_line(PANEL, p.box, fig.width, fig.height) for p in fig.panels]
        lines += [yolo_line(LABEL, p.label_box, fig.width, fig.height) for p in fig.panels if p.label_box]
        for r in range(repeat):
            stem = f"real_{src.stem}_{r}"
            dest = images / f"{stem}{src.suffix.lower()}"
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            os.symlink(src, dest)
            (labels / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    summary = {"figures": len(figures), "repeat": repeat, "panels": sum(len(f.panels) for f in figures),
               "label_boxes": sum(1 for f in figures for p in f.panels if p.label_box),
               "images": sorted(Path(f.image).name for f in figures)}
    (data / "real_gold.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Add the dev-split real gold figures to a YOLO training set.")
    ap.add_argument("--data", required=True, help="dataset folder (with images/train, labels/train)")
    ap.add_argument("--gold", action="append", required=True, help="gold file or folder of gold*.json")
    ap.add_argument("--repeat", type=int, default=8)
    args = ap.parse_args(argv)
    s = add_real_gold(args.data, args.gold, repeat=args.repeat)
    print(f"added {s['figures']} real figures x {s['repeat']} ({s['panels']} panels, {s['label_boxes']} label boxes)")


if __name__ == "__main__":
    main()
