"""Score panel detections against hand-drawn gold panels.

Gold format (`tests/fixtures/compound-figures/gold-dev/README.md`): `{"figures": [{image, width, height,
compound, panels: [{box, label, label_box}], difficult?, ignore_regions?, granularity_alternatives?}]}`,
boxes in original pixels, x2/y2 exclusive.

Metrics, per gold file:
- ImageCLEF 2016 figure-separation accuracy (García Seco de Herrera et al., CLEF 2016): a predicted panel
  is correct when it overlaps a not-yet-matched gold panel by at least 66% of the *predicted* panel's
  area; a figure scores correct / max(#gold, #predicted); the accuracy is the mean over figures.
- COCO mAP@0.5 and mAP@[0.5:0.95] (one class, 101-point interpolated precision, greedy matching by
  score across the whole set, as pycocotools does).
- Panel-count accuracy: figures where #predicted == #gold.
- Label accuracy: gold panels that carry a label whose matched prediction (greedy IoU >= 0.5) has the
  same canonical label (`label_reader.canonical_label`: "(a)" and "A" agree).

Halves: the figures of each gold file are split into a tuning half and a held-out half by a fixed hash
of the figure's image name (`gold_halves`), so that rules and thresholds chosen while looking at the
tuning half can be checked on figures they were not tuned on. Reports carry both halves' summaries.

Dev / test: figures that name their `article` (gold-v2, `tests/fixtures/compound-figures/gold-v2/README.md`)
fall into a frozen split by a hash of that article (`gold_split`), so all figures of an article land on
the same side. `--split dev` scores only the dev side (the one to tune on); reports carry both sides.
Several gold files are also scored together ("combined").

Gold options: `ignore_regions` remove predictions lying mostly (>= 50%) inside them; for a gold panel
with `granularity_alternatives` inside it, the coarse panel, the coarsest alternatives or the finest
alternatives may stand in for it, and each figure is scored with the combination that gives the best
ImageCLEF score (ties go to the primary annotation). `difficult` figures are included in the headline
numbers and also reported separately excluded.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from figmine.gold_split import SPLITS, gold_split
from subfigure_detector.label_reader import canonical_label
from subfigure_detector.postprocess import Box, area, intersection, iou

IMAGECLEF_OVERLAP = 0.66
COCO_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass
class GoldPanel:
    box: Box
    label: str | None = None
    label_box: Box | None = None


@dataclass
class GoldFigure:
    image: str  # path as resolved (or as given when it could not be found)
    width: int
    height: int
    panels: list[GoldPanel]
    compound: bool = True
    difficult: bool = False
    ignore_regions: list[Box] = field(default_factory=list)
    alternatives: dict[str, Box] = field(default_factory=dict)
    article: str | None = None  # the article the figure belongs to (gold-v2); decides its split
    source: str | None = None
    kinds: tuple[str, ...] = ()

    @property
    def split(self) -> str | None:
        return gold_split(self.article) if self.article else None


@dataclass
class PredPanel:
    box: Box
    score: float = 1.0
    label: str | None = None  # canonical or raw; compared through canonical_label


# -- gold loading ----------------------------------------------------------------------------
def _image_dirs(gold_path: Path, images_dir: Path | None) -> list[Path]:
    """Where a gold file's images may live: --images, then the layouts the gold-dev README names."""
    here = gold_path.parent
    stem = gold_path.stem  # gold, gold-soda, gold-exsclaim
    suffix = stem.split("-", 1)[1] if "-" in stem else ""
    dirs = [images_dir] if images_dir else []
    if suffix:
        dirs += [here / f"images-{suffix}", here.parent / suffix / "images", here / suffix / "images"]
    dirs += [here / "images", here]
    return [d for d in dirs if d is not None]


def load_gold(gold_path: str | Path, images_dir: str | Path | None = None) -> list[GoldFigure]:
    gold_path = Path(gold_path)
    data = json.loads(gold_path.read_text())
    dirs = _image_dirs(gold_path, Path(images_dir) if images_dir else None)
    out = []
    for fig in data["figures"]:
        name = fig["image"]
        found = next((d / name for d in dirs if (d / name).is_file()), None)
        out.append(GoldFigure(
            image=str(found if found else dirs[0] / name),
            width=int(fig["width"]), height=int(fig["height"]),
            panels=[GoldPanel(tuple(p["box"]), p.get("label"),
                              tuple(p["label_box"]) if p.get("label_box") else None) for p in fig["panels"]],
            compound=bool(fig.get("compound", len(fig["panels"]) > 1)),
            difficult=bool(fig.get("difficult", False)),
            ignore_regions=[tuple(r) for r in fig.get("ignore_regions") or []],
            alternatives={k: tuple(v) for k, v in (fig.get("granularity_alternatives") or {}).items()},
            article=fig.get("article") or None, source=fig.get("source") or None,
            kinds=tuple(fig.get("kind") or ()),
        ))
    return out


HALVES = ("tune", "held_out")


def gold_halves(images: Sequence[str]) -> list[str]:
    """"tune" or "held_out" for each figure of one gold file, by a fixed hash of its image file name.

    Figures are ranked by sha256 of the file name and alternate: even ranks tune, odd ranks are held
    out. The halves are therefore balanced within every gold file and never change unless a figure
    is added or removed.
    """
    names = [Path(i).name for i in images]
    ranked = sorted(range(len(names)), key=lambda i: hashlib.sha256(names[i].encode()).hexdigest())
    out = [""] * len(names)
    for rank, i in enumerate(ranked):
        out[i] = HALVES[rank % 2]
    return out


# -- per-figure metrics ----------------------------------------------------------------------
def imageclef_matches(pred: Sequence[Box], gold: Sequence[Box]) -> list[tuple[int, int]]:
    """(pred index, gold index) pairs under the ImageCLEF rule, best overlaps first, one-to-one."""
    pairs = []
    for i, p in enumerate(pred):
        pa = area(p)
        if pa <= 0:
            continue
        for j, g in enumerate(gold):
            frac = intersection(p, g) / pa
            if frac >= IMAGECLEF_OVERLAP:
                pairs.append((frac, i, j))
    pairs.sort(key=lambda t: -t[0])
    used_p: set[int] = set()
    used_g: set[int] = set()
    out = []
    for _, i, j in pairs:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        out.append((i, j))
    return out


def imageclef_score(pred: Sequence[Box], gold: Sequence[Box]) -> float:
    denom = max(len(pred), len(gold))
    if denom == 0:
        return 1.0
    return len(imageclef_matches(pred, gold)) / denom


def drop_ignored(pred: list[PredPanel], ignore_regions: Sequence[Box], frac: float = 0.5) -> list[PredPanel]:
    if not ignore_regions:
        return pred
    return [p for p in pred if area(p.box) <= 0
            or max(intersection(p.box, r) for r in ignore_regions) < frac * area(p.box)]


def gold_variants(fig: GoldFigure) -> list[list[Box]]:
    """The primary gold boxes first, then every defensible substitution by granularity alternatives."""
    options: list[list[list[Box]]] = []
    alts = list(fig.alternatives.values())
    for gp in fig.panels:
        opts = [[gp.box]]
        inner = [a for a in alts if area(a) > 0 and intersection(a, gp.box) >= 0.8 * area(a)]
        if inner:
            def inside(a: Box, b: Box) -> bool:
                return a != b and intersection(a, b) >= 0.8 * area(a)
            coarse = [a for a in inner if not any(inside(a, b) for b in inner)]
            fine = [a for a in inner if not any(inside(b, a) for b in inner)]
            for cand in (coarse, fine):
                if cand and cand not in opts:
                    opts.append(cand)
        options.append(opts)
    variants = []
    for combo in itertools.islice(itertools.product(*options), 256):
        variants.append([b for part in combo for b in part])
    return variants


def match_labels(pred: Sequence[PredPanel], gold: Sequence[GoldPanel]) -> list[tuple[GoldPanel, PredPanel | None]]:
    """Each labelled gold panel with its greedily IoU-matched (>= 0.5) prediction, or None."""
    pairs = sorted(((iou(p.box, g.box), i, j) for i, p in enumerate(pred) for j, g in enumerate(gold)),
                   key=lambda t: -t[0])
    used_p: set[int] = set()
    got: dict[int, int] = {}
    for v, i, j in pairs:
        if v < 0.5:
            break
        if i in used_p or j in got:
            continue
        used_p.add(i)
        got[j] = i
    return [(g, pred[got[j]] if j in got else None) for j, g in enumerate(gold) if g.label]


@dataclass
class FigureResult:
    image: str
    n_gold: int
    n_pred: int
    imageclef: float
    count_ok: bool
    labels_total: int
    labels_correct: int
    difficult: bool
    gold_boxes: list[Box]  # the variant that was scored
    pred: list[PredPanel]
    error: str | None = None


def score_figure(fig: GoldFigure, pred: list[PredPanel], error: str | None = None) -> FigureResult:
    pred = drop_ignored(pred, fig.ignore_regions)
    boxes = [p.box for p in pred]
    variants = gold_variants(fig)
    scores = [imageclef_score(boxes, v) for v in variants]
    best = int(np.argmax(scores))  # argmax takes the first maximum: the primary wins ties
    gold_boxes = variants[best]
    labelled = match_labels(pred, fig.panels)
    correct = sum(1 for g, p in labelled if p is not None and p.label is not None
                  and canonical_label(p.label) == canonical_label(g.label))
    return FigureResult(image=fig.image, n_gold=len(gold_boxes), n_pred=len(pred), imageclef=scores[best],
                        count_ok=len(pred) == len(gold_boxes), labels_total=len(labelled),
                        labels_correct=correct, difficult=fig.difficult, gold_boxes=gold_boxes,
                        pred=pred, error=error)


# -- set-level metrics -----------------------------------------------------------------------
def coco_ap(results: Sequence[FigureResult], iou_threshold: float) -> float:
    """COCO-style AP for one IoU threshold: 101-point interpolated precision over recall."""
    dets = [(p.score, k, p.box) for k, r in enumerate(results) for p in r.pred]
    dets.sort(key=lambda t: -t[0])
    n_gold = sum(len(r.gold_boxes) for r in results)
    if n_gold == 0:
        return float("nan")
    taken = [np.zeros(len(r.gold_boxes), bool) for r in results]
    tp = np.zeros(len(dets))
    for d, (_, k, box) in enumerate(dets):
        gold = results[k].gold_boxes
        best_j, best_v = -1, iou_threshold
        for j, g in enumerate(gold):
            if taken[k][j]:
                continue
            v = iou(box, g)
            if v >= best_v:
                best_j, best_v = j, v
        if best_j >= 0:
            taken[k][best_j] = True
            tp[d] = 1
    if not dets:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_gold
    precision = ctp / np.arange(1, len(dets) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the precision envelope
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))


def summarize(results: Sequence[FigureResult]) -> dict:
    if not results:
        return {"figures": 0}
    labels_total = sum(r.labels_total for r in results)
    return {
        "figures": len(results),
        "gold_panels": sum(r.n_gold for r in results),
        "predicted_panels": sum(r.n_pred for r in results),
        "imageclef_accuracy": round(float(np.mean([r.imageclef for r in results])), 4),
        "map50": round(coco_ap(results, 0.5), 4),
        "map50_95": round(float(np.mean([coco_ap(results, t) for t in COCO_IOUS])), 4),
        "count_accuracy": round(float(np.mean([r.count_ok for r in results])), 4),
        "label_accuracy": round(sum(r.labels_correct for r in results) / labels_total, 4) if labels_total else None,
        "labelled_gold_panels": labels_total,
        "errors": sum(1 for r in results if r.error),
    }


Predictor = Callable[[list[str]], list[tuple[list[PredPanel], str | None]]]


def score_gold(gold: Sequence[GoldFigure], predict: Predictor) -> list[FigureResult]:
    """Run `predict` on the gold images (paths) and score each figure."""
    preds = predict([f.image for f in gold])
    return [score_figure(f, p, err) for f, (p, err) in zip(gold, preds)]


def split_summaries(gold: Sequence[GoldFigure], results: Sequence[FigureResult]) -> dict:
    """"all", and "dev" / "test" where the gold names articles."""
    out = {"all": summarize(results)}
    splits = [f.split for f in gold]
    for name in SPLITS:
        if name in splits:
            out[name] = summarize([r for r, sp in zip(results, splits) if sp == name])
    return out


def build_report(gold: Sequence[GoldFigure], results: Sequence[FigureResult]) -> dict:
    """The JSON-able report of one gold file: summaries by subset, then one entry per figure."""
    report = split_summaries(gold, results)
    if any(r.difficult for r in results):
        report["excluding_difficult"] = summarize([r for r in results if not r.difficult])
    halves = gold_halves([f.image for f in gold])
    for half in HALVES:
        report[half] = summarize([r for r, h in zip(results, halves) if h == half])
    report["figures"] = [{
        "image": Path(r.image).name, "half": h, "split": f.split, "gold": r.n_gold, "predicted": r.n_pred,
        "imageclef": round(r.imageclef, 4), "count_ok": r.count_ok,
        "labels": f"{r.labels_correct}/{r.labels_total}", "difficult": r.difficult, "error": r.error,
        "pred": [{"box": list(p.box), "score": round(p.score, 3), "label": p.label} for p in r.pred],
        "gold_boxes": [list(b) for b in r.gold_boxes],
    } for f, r, h in zip(gold, results, halves)]
    return report


def evaluate(gold: Sequence[GoldFigure], predict: Predictor) -> dict:
    """Run `predict` on the gold images (paths) and score them; returns the JSON-able report."""
    return build_report(gold, score_gold(gold, predict))


def detector_predictor(detector) -> Predictor:
    """Adapt a `Detector` to the evaluator: panels with their canonical labels, or the error text."""
    def predict(paths: list[str]) -> list[tuple[list[PredPanel], str | None]]:
        out = []
        for det in detector.detect(paths):
            out.append(([PredPanel(p.box, p.score, p.label) for p in det.panels], det.error))
        return out
    return predict


# -- report formatting & command -------------------------------------------------------------
_COLUMNS = (("figures", "figs"), ("gold_panels", "gold"), ("predicted_panels", "pred"),
            ("imageclef_accuracy", "ImageCLEF"), ("map50", "mAP50"), ("map50_95", "mAP50-95"),
            ("count_accuracy", "count acc"), ("label_accuracy", "label acc"), ("errors", "errors"))


_SUBSET_NAMES = {"all": "", "excluding_difficult": " (no difficult)", "tune": " (tuning half)",
                 "held_out": " (held-out half)", "dev": " (dev)", "test": " (test)"}


def format_table(reports: dict[str, dict], *, halves: bool = False) -> str:
    """A plain-text table, one row per gold file (and its non-difficult subset, and with `halves` its halves)."""
    rows = [["gold"] + [c[1] for c in _COLUMNS]]
    subsets = ("all", "excluding_difficult") + SPLITS + (HALVES if halves else ())
    for name, rep in reports.items():
        for subset in subsets:
            if subset not in rep or not rep[subset].get("figures"):
                continue
            s = rep[subset]
            label = name + _SUBSET_NAMES[subset]
            rows.append([label] + ["-" if s.get(k) is None else (f"{s[k]:.3f}" if isinstance(s[k], float) else str(s[k]))
                                   for k, _ in _COLUMNS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_figures(report: dict) -> str:
    lines = []
    for f in report["figures"]:
        flag = "" if f["count_ok"] else "  <-- count"
        err = f"  ERROR {f['error']}" if f["error"] else ""
        half = f" [{f['split'] or f['half']}]" if f.get("split") or f.get("half") else ""
        lines.append(f"  {f['imageclef']:.2f}  {f['predicted']:>3}/{f['gold']:<3} labels {f['labels']:>5}  "
                     f"{f['image']}{half}{flag}{err}")
    return "\n".join(lines)


def gold_files_of(paths: Sequence[str | Path]) -> list[Path]:
    """Gold files named directly, or every `gold*.json` of a named folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.glob("gold*.json")) if p.is_dir() else [p]
    return out


def eval_command(gold_files: Sequence[str | Path], *, images_dir: str | Path | None = None,
                 weights_dir: str | Path | None = None, backend: str = "auto", method: str = "auto",
                 verbose: bool = False, json_out: str | Path | None = None, halves: bool = False,
                 split: str | None = None, **detector_options) -> dict[str, dict]:
    """`figmine detector eval --gold FILE|DIR [--gold ...] [--split dev|test] [--images DIR] [--method xycut] [--json-out F]`.

    Prints a table (and per-figure lines with `verbose`, the tuning and held-out halves with `halves`);
    with several gold files also a "combined" row over all their figures. `split` scores only the
    figures of that side of the dev/test split (figures without an article count as dev: all older
    gold was looked at while tuning). Writes the full JSON report to `json_out`. `detector_options`
    go to `Detector`. Returns {gold file name: report} (and "combined" with several files).
    """
    from subfigure_detector.detect import Detector

    if split not in (None, *SPLITS):
        raise ValueError(f"unknown split {split!r}: use dev or test")
    detector = Detector(weights_dir=weights_dir, backend=backend, method=method, **detector_options)
    reports: dict[str, dict] = {}
    scored: list[tuple[GoldFigure, FigureResult]] = []
    for gf in gold_files_of(gold_files):
        gold = load_gold(gf, images_dir)
        if split:
            gold = [f for f in gold if (f.split or "dev") == split]
        if not gold:
            continue
        results = score_gold(gold, detector_predictor(detector))
        reports[Path(gf).name] = build_report(gold, results)
        scored += zip(gold, results)
    if len(reports) > 1:
        reports["combined"] = split_summaries([g for g, _ in scored], [r for _, r in scored])
    print(f"detector: {detector.describe()}")
    print(format_table(reports, halves=halves))
    if verbose:
        for name, rep in reports.items():
            if "figures" in rep:
                print(f"\n{name}")
                print(format_figures(rep))
    if json_out:
        Path(json_out).write_text(json.dumps({"detector": detector.describe(), "reports": reports}, indent=1))
    return reports


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m subfigure_detector.evaluate --gold FILE ... [--halves]`: eval_command with the halves' rows."""
    ap = argparse.ArgumentParser(description="Score the subfigure detector on gold files.")
    ap.add_argument("--gold", action="append", required=True)
    ap.add_argument("--images", default=None)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--halves", action="store_true", help="also the tuning and held-out halves of each file")
    ap.add_argument("--label-reader", default="auto", help="auto | classifier | rapidocr | tesseract | none")
    ap.add_argument("--split", default=None, choices=SPLITS, help="score only this side of the dev/test split")
    args = ap.parse_args(argv)
    eval_command(args.gold, images_dir=args.images, weights_dir=args.weights, backend=args.backend,
                 method=args.method, verbose=args.verbose, json_out=args.json_out, halves=args.halves,
                 label_reader=args.label_reader, split=args.split)


if __name__ == "__main__":
    main()
