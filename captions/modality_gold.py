"""Hand-labelled figure modalities (gold-v2, issue 14): loading them and scoring a classifier (one home).

Gold lines (`tests/fixtures/modality/gold-v2/gold-*.jsonl`, conventions in its README) name a figure's
`caption`, the SET of modality codes it shows (`modalities`) and its `dominant` one; each line falls in
the frozen dev / test split by its `article` (`figmine.gold_split`).

Scores, at figure level, the measures of the evaluation that opened issue 14:
- macro-F1: per code, F1 of "the figure shows this code" (predicted set vs gold set), averaged over the
  codes present in the gold of the scored figures (rare classes weigh as much as charts);
- accuracy: the predicted dominant code is in the gold set;
- exact: the predicted set equals the gold set; micro precision / recall over (figure, code) pairs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from figmine.gold_split import gold_split

__all__ = ["ModalityFigure", "ModalityScore", "load_modality_gold", "score_modalities"]

GOLD_DIR = Path(__file__).resolve().parent.parent / "tests/fixtures/modality/gold-v2"


@dataclass(frozen=True)
class ModalityFigure:
    id: str
    article: str
    caption: str
    modalities: frozenset[str]
    dominant: str
    split: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def load_modality_gold(folder: Path = GOLD_DIR) -> list[ModalityFigure]:
    """Every `gold-*.jsonl` line of a folder; a figure labelled twice (same id) is kept once."""
    out: dict[str, ModalityFigure] = {}
    for path in sorted(folder.glob("gold-*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                fig = ModalityFigure(r["id"], r["article"], r["caption"], frozenset(r["modalities"]),
                                     r["dominant"], gold_split(r["article"]), r)
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a modality gold line ({e})") from e
            out.setdefault(fig.id, fig)
    return list(out.values())


@dataclass
class ModalityScore:
    figures: int
    macro_f1: float
    accuracy: float
    exact: float
    precision: float
    recall: float
    per_class: dict[str, tuple[float, float, float, int]]  # code → (precision, recall, F1, gold figures)

    def row(self) -> str:
        return (f"{self.figures} | {self.macro_f1:.3f} | {self.accuracy:.3f} | {self.exact:.3f} | "
                f"{self.precision:.3f} | {self.recall:.3f}")


def score_modalities(
    figures: Sequence[ModalityFigure], predict: Callable[[ModalityFigure], tuple[str, Iterable[str]]]
) -> ModalityScore:
    """``predict(figure) -> (dominant, codes)``."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    hit = exact = 0
    for fig in figures:
        dominant, codes = predict(fig)
        pred = set(codes)
        for code in pred | fig.modalities:
            if code in pred and code in fig.modalities:
                tp[code] += 1
            elif code in pred:
                fp[code] += 1
            else:
                fn[code] += 1
        hit += dominant in fig.modalities
        exact += pred == fig.modalities
    present = sorted({c for f in figures for c in f.modalities})
    per_class = {}
    for c in present:
        p = tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] else 0.0
        r = tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] else 0.0
        per_class[c] = (p, r, 2 * p * r / (p + r) if p + r else 0.0, tp[c] + fn[c])
    n = max(len(figures), 1)
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return ModalityScore(
        len(figures),
        sum(v[2] for v in per_class.values()) / max(len(per_class), 1),
        hit / n, exact / n,
        all_tp / max(all_tp + all_fp, 1), all_tp / max(all_tp + all_fn, 1),
        per_class,
    )
