"""Which offline reader reads panel labels best: accuracy and milliseconds per label.

Two sets of label crops:
- real: every labelled gold panel with a label box in the gold-dev files (gold.json, gold-soda.json,
  gold-exsclaim.json), cropped from the original figure;
- rendered: "A", "b", "(c)", "A1", "ii", "d.", "B′" and a few more drawn in 8 fonts (DejaVu and
  Liberation Sans/Serif, regular and bold) at 3 sizes, dark on white and white on dark grey, saved
  through JPEG (quality 75) like real figures.

Then the search for labels that no box gives (`find_corner_labels` on the gold panel boxes of the
compound gold figures, both search modes).

A read is correct when its canonical form (`label_reader.canonical_label`) equals the truth's.
Real crops are also scored per half (`evaluate.gold_halves`: the reader's threshold was tuned on the
tuning half only). Readers: auto (the default: letter classifier, RapidOCR for the crops it is unsure
of), classifier (alone), rapidocr, tesseract (if installed), each through `label_reader.read_labels` as the
detector reads a YOLO label box (lenient: a lone digit is the letter it resembles)
(crop preparation, a second inverted read when the first is not a confident label); times are per
label, end to end, with each reader's default threading.

    python bench/label_bench.py [--gold-dir DIR] [--readers auto classifier rapidocr tesseract] [--show-errors]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harvester.images import load_image  # noqa: E402
from subfigure_detector.evaluate import gold_halves, load_gold  # noqa: E402
from subfigure_detector.label_reader import (  # noqa: E402
    CornerTextFinder,
    canonical_label,
    find_corner_labels,
    make_reader,
    plausible,
    read_labels,
)
from subfigure_detector.synth.label_crops import label_sheet  # noqa: E402
from subfigure_detector.xycut import char_height  # noqa: E402

DEFAULT_GOLD = Path("/work/shared/fixtures/compound-figures/gold-dev")
RENDER_TEXTS = ["A", "b", "(c)", "A1", "ii", "d.", "B′", "C", "f", "(B)", "iii", "E2", "g", "K", "l", "(h)"]
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation")]
FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
              "LiberationSerif-Bold.ttf"]


Item = tuple[np.ndarray, list[tuple[int, int, int, int]], list[str], str]  # figure, label boxes, truths, where


def gold_items(gold_dir: Path) -> list[Item]:
    """One item per gold figure: its label boxes and label texts."""
    out = []
    for name in ("gold.json", "gold-soda.json", "gold-exsclaim.json"):
        path = gold_dir / name
        if not path.exists():
            continue
        figs = load_gold(path)
        for fig, half in zip(figs, gold_halves([f.image for f in figs])):
            labelled = [p for p in fig.panels if p.label and p.label_box]
            if labelled:
                rgb = np.asarray(load_image(fig.image, max_pixels=400_000_000).rgb)
                out.append((rgb, [p.label_box for p in labelled], [p.label for p in labelled],
                            f"{name}:{Path(fig.image).name}:{half}"))
    return out


def _fonts() -> list[Path]:
    return [d / f for d in FONT_DIRS for f in FONT_FILES if (d / f).exists()]


def rendered_items() -> list[Item]:
    """One sheet per font, size and polarity with every test label on it, saved through JPEG."""
    out = []
    for font_path in _fonts():
        for size in (11, 16, 28):
            for fg, bg in (((0, 0, 0), (255, 255, 255)), ((255, 255, 255), (60, 60, 60))):
                rgb, boxes = label_sheet(list(RENDER_TEXTS), font_path, size, fg=fg, bg=bg, jpeg_quality=75)
                out.append((rgb, boxes, list(RENDER_TEXTS),
                            f"{font_path.stem}/{size}/{'light-on-dark' if fg[0] else 'dark-on-light'}"))
    return out


def run(reader_name: str, items: list[Item], show_errors: bool) -> dict:
    reader = make_reader(reader_name)
    if reader is None:
        return {"reader": reader_name, "error": "not available"}
    read_labels(reader, items[0][0], items[0][1][:1])  # load models outside the timing
    n = sum(len(it[1]) for it in items)
    t0 = time.perf_counter()
    reads = [read_labels(reader, rgb, boxes, lenient=True) for rgb, boxes, _, _ in items]
    dt = time.perf_counter() - t0
    correct, kept, kept_ok = 0, 0, 0
    errors = []
    per_text: dict[str, list[int]] = {}
    for (_, _, truths, where), rs in zip(items, reads):
        for truth, r in zip(truths, rs):
            want = canonical_label(truth)
            ok = (r.label or canonical_label(r.raw)) == want
            correct += ok
            per_text.setdefault(truth, [0, 0])
            per_text[truth][0] += ok
            per_text[truth][1] += 1
            if r.label is not None:  # what the detector keeps: plausible panel labels only
                kept += 1
                kept_ok += r.label == want
            if not ok:
                errors.append(f"{truth!r} -> {r.raw!r} ({where})")
    res = {"reader": reader_name, "n": n, "accuracy": round(correct / n, 4),
           "kept": kept, "kept_precision": round(kept_ok / kept, 4) if kept else None,
           "ms_per_label": round(1000 * dt / n, 2)}
    if len(per_text) <= len(RENDER_TEXTS):
        res["per_text"] = {t: f"{a}/{b}" for t, (a, b) in per_text.items()}
    if show_errors:
        res["errors"] = errors
    return res


def find_bench(gold_dir: Path) -> list[dict]:
    """Labels found without a label box: `find_corner_labels` on each gold panel's box.

    found = labelled panels whose label is found and read right; false = unlabelled panels of
    compound figures given a label anyway. The detector's plausibility filter is applied.
    """
    figs = []
    for name in ("gold.json", "gold-soda.json", "gold-exsclaim.json"):
        if (gold_dir / name).exists():
            for fig in load_gold(gold_dir / name):
                if len(fig.panels) > 1:
                    figs.append((fig, np.asarray(load_image(fig.image, max_pixels=400_000_000).rgb)))
    reader = make_reader("auto")
    out = []
    for mode, finder in (("blob + text detector", CornerTextFinder()), ("blob only", None)):
        ok = labelled = false = unlabelled = 0
        t0 = time.perf_counter()
        for fig, rgb in figs:
            hits = find_corner_labels(reader, finder, rgb, [p.box for p in fig.panels], char_h=char_height(rgb))
            keep = plausible([(h[1].label, h[1].score) if h else (None, 0.0) for h in hits])  # as the detector
            hits = [h if k else None for h, k in zip(hits, keep)]
            for p, hit in zip(fig.panels, hits):
                if p.label:
                    labelled += 1
                    ok += hit is not None and hit[1].label == canonical_label(p.label)
                else:
                    unlabelled += 1
                    false += hit is not None
        dt = time.perf_counter() - t0
        out.append({"search": mode, "labelled_panels": labelled, "found": round(ok / labelled, 4),
                    "unlabelled_panels": unlabelled, "false_labels": false,
                    "ms_per_panel": round(1000 * dt / (labelled + unlabelled), 1)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold-dir", type=Path, default=DEFAULT_GOLD)
    ap.add_argument("--readers", nargs="+", default=["auto", "classifier", "rapidocr", "tesseract"])
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    real = gold_items(args.gold_dir)
    rendered = rendered_items()
    prep_ms = 1000 * (time.perf_counter() - t)
    print(f"labels: real {sum(len(i[1]) for i in real)} in {len(real)} figures, rendered "
          f"{sum(len(i[1]) for i in rendered)} on {len(rendered)} sheets (loading {prep_ms:.0f} ms)")
    sets = (("real", real), ("real, tuning half", [i for i in real if i[3].endswith(":tune")]),
            ("real, held-out half", [i for i in real if i[3].endswith(":held_out")]), ("rendered", rendered))
    for name in args.readers:
        for set_name, items in sets:
            if not items:
                continue
            try:
                res = run(name, items, args.show_errors)
            except Exception as exc:  # noqa: BLE001 - a missing optional reader is a result, not a crash
                res = {"reader": name, "error": str(exc)}
            res["set"] = set_name
            errs = res.pop("errors", None)
            print(json.dumps(res))
            for e in errs or []:
                print("   ", e)
    for res in find_bench(args.gold_dir):
        print(json.dumps(res))


if __name__ == "__main__":
    main()
