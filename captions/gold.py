"""Hand-split subcaption gold: loading it and scoring a splitter against it (one home for both).

Gold lines are JSON objects ``{"id", "caption", "caption_xml"?, "panels": [{"label", "text"}], ...}``
(`tests/fixtures/subcaptions/gold-v2/README.md` gives the format and the splitting conventions). A line
that names its ``article`` falls into the frozen dev / test split by that article
(`figmine.gold_split`); one without stays on the side its ``split`` field says (dev by default).

Scores: per gold panel, the token F1 (lower-cased ``\\w+`` tokens after NFKC, multiset overlap) between
the predicted ``full_text`` for the same label (`figmine.panel_labels.panel_key`: "B′" and "b'" agree)
and the gold text; a panel the splitter missed scores 0; the mean over gold panels. Label precision /
recall / F1 are micro-averaged over figures (predicted label set vs gold label set). A caption whose
gold has no labelled panels is scored apart: the splitter should return nothing for it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from figmine.gold_split import gold_split
from figmine.panel_labels import panel_key

__all__ = ["GoldFigure", "Score", "load_jsonl", "load_gold_dir", "tokens", "token_f1", "score"]


@dataclass
class GoldFigure:
    id: str
    caption: str
    panels: list[tuple[str, str]]  # (label, gold text)
    caption_xml: str | None = None
    split: str = "dev"
    meta: dict = field(default_factory=dict)  # the rest of the gold line (article, journal, classes...)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta.get("classes") or ())


def load_jsonl(path: Path) -> list[GoldFigure]:
    """One gold file; [] when it does not exist."""
    figs = []
    if not path.exists():
        return figs
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            panels = [(p["label"], p["text"]) for p in r["panels"]]
            fig = GoldFigure(r["id"], r["caption"], panels, r.get("caption_xml"), r.get("split", "dev"), r)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a gold line ({e})") from e
        if r.get("article"):
            fig.split = gold_split(r["article"])
        figs.append(fig)
    return figs


def load_gold_dir(folder: Path) -> list[GoldFigure]:
    """Every ``gold-*.jsonl`` of a folder (gold-v2: one file per annotator batch), in name order."""
    return [f for path in sorted(folder.glob("gold-*.jsonl")) for f in load_jsonl(path)]


_TOKEN = re.compile(r"\w+")


def tokens(s: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", s).lower())


def token_f1(pred: str, gold: str) -> float:
    p, g = tokens(pred), tokens(gold)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


@dataclass
class Score:
    figures: int = 0
    panels: int = 0
    f1_sum: float = 0.0
    text_f1_sum: float = 0.0
    label_tp: int = 0
    label_fp: int = 0
    label_fn: int = 0
    single_panel: int = 0
    single_panel_ok: int = 0
    per_panel: list = field(default_factory=list)  # (f1, figure, label, gold text, predicted subcaption)

    @property
    def mean_f1(self) -> float:
        return self.f1_sum / self.panels if self.panels else 0.0

    @property
    def mean_text_f1(self) -> float:
        return self.text_f1_sum / self.panels if self.panels else 0.0

    @property
    def label_p(self) -> float:
        d = self.label_tp + self.label_fp
        return self.label_tp / d if d else 0.0

    @property
    def label_r(self) -> float:
        d = self.label_tp + self.label_fn
        return self.label_tp / d if d else 0.0

    @property
    def label_f1(self) -> float:
        p, r = self.label_p, self.label_r
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {
            "figures": self.figures,
            "panels": self.panels,
            "mean_token_f1": round(self.mean_f1, 4),
            "mean_token_f1_own_text": round(self.mean_text_f1, 4),
            "label_precision": round(self.label_p, 4),
            "label_recall": round(self.label_r, 4),
            "label_f1": round(self.label_f1, 4),
            "single_panel_figures": self.single_panel,
            "single_panel_ok": self.single_panel_ok,
        }


def score(figs: Iterable[GoldFigure], splitter: Callable) -> Score:
    """Score ``splitter(caption, caption_xml) -> [Subcaption]`` on gold figures."""
    sc = Score()
    for fig in figs:
        pred = splitter(fig.caption, fig.caption_xml)
        gold = [(lab, txt) for lab, txt in fig.panels if lab.strip()]
        if not gold:
            sc.single_panel += 1
            sc.single_panel_ok += int(not pred)
            continue
        sc.figures += 1
        by_label = {}
        for s in pred:
            by_label.setdefault(panel_key(s.label), s)
        gset = {panel_key(lab) for lab, _ in gold}
        pset = set(by_label)
        sc.label_tp += len(gset & pset)
        sc.label_fp += len(pset - gset)
        sc.label_fn += len(gset - pset)
        for lab, txt in gold:
            s = by_label.get(panel_key(lab))
            sc.panels += 1
            f1 = token_f1(s.full_text, txt) if s else 0.0
            sc.f1_sum += f1
            sc.text_f1_sum += token_f1(s.text, txt) if s else 0.0
            sc.per_panel.append((f1, fig, lab, txt, s))
    return sc
