"""Imaging modality of a figure panel: CT, MRI, H&E, confocal, chart, gel, … (rules, no model).

``classify(PanelTexts(subcaption, caption, citances), image=None)`` returns a
``ModalityResult(code, confidence, evidence, scores)``, where ``code`` is one of the hierarchical
codes of ``taxonomy()`` (``radiology.ct``, ``microscopy.fluorescence``, ``graphics.chart``, …,
``other``).

How it decides:

1. Text. ``captions.modality_rules`` finds modality phrases in each text. Each text is a source,
   and each source has a weight: text about the panel counts more than text about the whole
   figure.

   | source | weight with a subcaption | weight without one |
   |---|---|---|
   | subcaption | 1.0 | – |
   | citances naming the panel | 0.7 | – |
   | whole caption, for groups the panel's own text points at | 0.4 | 1.0 |
   | whole caption, for other groups (another panel's modality) | 0.2 | 1.0 |
   | citances of the whole figure | – | 0.5 |

   When the subcaption and the panel's citances together give less than ``QUIET_PANEL``
   ("Knockout.", "Patient 2"), the caption weight rises to 0.7 (0.35 for the other groups). Without
   a subcaption, hits near the start of the caption (its title) get up to ``TITLE_BONUS`` more.
   Repeated hits of one rule family in one source fade geometrically (1, ½, ¼, …). One source gives
   one code at most ``CODE_CAP`` × its weight. Negated or contrasted mentions ("unlike CT") count
   ``NEGATED_FACTOR`` of their weight. Mentions inside an "Abbreviations:" list count a third.
2. Image (optional). ``captions.image_cues`` measures a downsampled copy of the image: white or
   black background, grey or colour, colour count, stain hues, and thin axis-like lines. It adds
   votes of at most 1.5 in all. Text that names a modality (2–3 per phrase) outweighs the image.
   The image settles captions that say little ("Representative images. Scale bar, 10 µm.").
3. Decision. The scores of each top-level group (radiology, microscopy, photography, signals,
   graphics) are summed and the strongest group wins. Within it, the best leaf is chosen when it
   has ``LEAF_MIN`` of its own or at least as much as the group's direct evidence. Otherwise the
   group code itself is returned, for example ``microscopy`` for "micrographs" of unstated
   technique. With less than ``MIN_EVIDENCE`` in total, the result is ``other``.

``confidence`` is the winning group's share of all evidence × (1 − e^(−total/2)) × √(leaf's share
of its group). It is 0 for ``other`` with no evidence at all. ``evidence`` lists the strongest
contributions as readable strings ("subcaption: 'confocal' -> microscopy.fluorescence +2.40").
``scores`` maps every code that got evidence to its score, with each group's score being the sum
of its own and its children's.

A figure's modalities are the set of its panels' codes (``figure_modalities``). ``classify_figure``
splits a caption into panels with ``captions.subcaptions.split_caption`` and classifies each panel.

Bad input never crashes. Empty, non-English, markup-laden and enormous texts (only the first
``MAX_TEXT_CHARS`` characters of each text are read) return a result, usually ``other`` with low
confidence. A text that is neither ``str``, ``bytes`` nor ``None`` raises ``TypeError``.
"""

from __future__ import annotations

import csv
import html
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from captions.modality_rules import NEGATED_FACTOR, find_hits

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "FigureModality",
    "ModalityDef",
    "ModalityResult",
    "PanelTexts",
    "OTHER",
    "classify",
    "classify_figure",
    "dominant",
    "figure_modalities",
    "sentence_modalities",
    "group_of",
    "taxonomy",
]

VOCAB_DIR = Path(__file__).parent / "vocab" / "modality"
OTHER = "other"
MAX_TEXT_CHARS = 20_000
MIN_EVIDENCE = 0.3
LEAF_MIN = 0.5
ABBREVIATION_FACTOR = 1 / 3
MAX_EVIDENCE_ITEMS = 10
# One source gives one code at most CODE_CAP × its weight, so that a long caption listing many
# panels of one kind cannot drown the words of the panel itself.
CODE_CAP = 4.0
# Without a subcaption, hits early in the caption (its title) count up to this much more.
TITLE_BONUS = 0.15

# Source weights with a subcaption (panel) and without one (whole figure). When the subcaption and
# the panel's citances say nearly nothing (< QUIET_PANEL), the caption speaks louder.
_WEIGHTS_PANEL = {"subcaption": 1.0, "citance": 0.7, "caption": 0.4}
_CAPTION_WEIGHT_QUIET_PANEL = 0.7
QUIET_PANEL = 0.6
_WEIGHTS_FIGURE = {"caption": 1.0, "citance": 0.5}


@dataclass(frozen=True, slots=True)
class ModalityDef:
    """One taxonomy entry, ready to seed ``store.models.Modality(code, name, cui, parent_id)``."""

    code: str
    name: str
    cui: str | None
    parent: str | None
    related_cuis: tuple[str, ...] = ()
    vocab_keys: tuple[str, ...] = ()
    scope: str = ""


@dataclass(frozen=True, slots=True)
class PanelTexts:
    """The texts that describe one panel. ``subcaption`` is the panel's own words (None when the
    whole caption is classified); ``citances`` are body sentences naming the panel (or, without
    a subcaption, the figure): strings, or objects with a ``text`` attribute such as
    ``harvester.records.Citance``."""

    subcaption: str | None = None
    caption: str | None = None
    citances: Sequence[str] = ()


@dataclass(slots=True)
class ModalityResult:
    code: str
    confidence: float
    evidence: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class FigureModality:
    """``overall``: the whole caption; ``panels``: one result per subcaption label (empty when the
    caption names no panels); ``codes``: the figure's modalities (the set of its panels', or of its
    caption's sentences when it names no panels); ``dominant``: the figure's one modality."""

    overall: ModalityResult
    panels: dict[str, ModalityResult]
    codes: list[str]
    dominant: ModalityResult | None = None


# --------------------------------------------------------------------------------------------
# Taxonomy
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _taxonomy() -> tuple[ModalityDef, ...]:
    with open(VOCAB_DIR / "taxonomy.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    defs = [
        ModalityDef(
            code=r["code"],
            name=r["name"],
            cui=r["cui"] or None,
            parent=r["parent"] or None,
            related_cuis=tuple(r["related_cuis"].split()),
            vocab_keys=tuple(r["vocab_keys"].split()),
            scope=r["scope"],
        )
        for r in rows
    ]
    # parents first, so that seeding can resolve parent_id in one pass
    return tuple(sorted(defs, key=lambda d: (d.parent is not None, 0)))


def taxonomy() -> list[ModalityDef]:
    """Every modality code, parents before children (read from ``vocab/modality/taxonomy.csv``)."""
    return list(_taxonomy())


@lru_cache(maxsize=1)
def _parents() -> dict[str, str | None]:
    return {d.code: d.parent for d in _taxonomy()}


def group_of(code: str) -> str:
    """Top-level group of a code: ``radiology.ct`` → ``radiology``; ``other`` → ``other``."""
    return code.split(".", 1)[0]


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"<[^<>]{0,500}>")
_ABBREV_RE = re.compile(r"\babbreviations?(?: used)?\s*[:.-][^\n]*?(?=\.\s+[A-Z]|$)", re.IGNORECASE)


def _clean(text: object, what: str) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, bytes or None, got {type(text).__name__}")
    text = text[: MAX_TEXT_CHARS * 4]
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text[:MAX_TEXT_CHARS]


class _Tally:
    """Scores per code and the evidence behind them (notes are formatted only for the strongest)."""

    __slots__ = ("scores", "evidence")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self.evidence: list[tuple[float, str, str, str, str]] = []  # amount, source, what, code, flag

    def add(self, code: str, amount: float, source: str, what: str, flag: str = "") -> None:
        if amount <= 0:
            return
        self.scores[code] = self.scores.get(code, 0.0) + amount
        self.evidence.append((amount, source, what, code, flag))

    def notes(self, n: int) -> list[str]:
        top = sorted(self.evidence, key=lambda t: -t[0])[:n]
        return [f"{src}: {what} -> {code} +{amt:.2f}{flag}" for amt, src, what, code, flag in top]


@lru_cache(maxsize=256)
def _hits_of(text: str) -> tuple:
    """The rules' hits in a text, remembered: a figure's caption is scored again for every panel and
    every sentence of it (as context), and scanning is most of the cost."""
    return tuple(find_hits(text))


def _score_text(
    tally: _Tally,
    source: str,
    text: str,
    weight: float,
    title_bonus: float = 0.0,
    group_weights: Mapping[str, float] | None = None,
) -> float:
    """Add the evidence of one source; returns the total it added. ``group_weights`` overrides
    ``weight`` for codes of the given top-level groups."""
    if not text or weight <= 0:
        return 0.0
    hits = _hits_of(text)
    if not hits:
        return 0.0
    abbrev_spans = [m.span() for m in _ABBREV_RE.finditer(text)] if "bbreviation" in text else []
    seen: dict[str, int] = {}
    given: dict[str, float] = {}
    cap = CODE_CAP * weight
    n = len(text)
    total = 0.0
    for hit in sorted(hits, key=lambda h: h.start):
        rule = hit.rule
        k = seen.get(rule.family, 0)
        seen[rule.family] = k + 1
        w = weight if group_weights is None else group_weights.get(group_of(rule.code), weight)
        amount = rule.weight * w * (0.5**k)
        if title_bonus:
            amount *= 1.0 + title_bonus * (1.0 - hit.start / n)
        flag = ""
        if hit.negated:
            amount *= NEGATED_FACTOR
            flag = " (negated)"
        elif any(a <= hit.start < b for a, b in abbrev_spans):
            amount *= ABBREVIATION_FACTOR
            flag = " (abbreviation list)"
        room = cap - given.get(rule.code, 0.0)
        if room <= 0:
            continue
        amount = min(amount, room)
        given[rule.code] = given.get(rule.code, 0.0) + amount
        total += amount
        phrase = hit.phrase if len(hit.phrase) <= 40 else hit.phrase[:37] + "..."
        tally.add(rule.code, amount, source, repr(phrase), flag)
    return total


def _aggregate(scores: Mapping[str, float]) -> dict[str, float]:
    """Raw per-code scores → scores where every ancestor also holds its descendants' sum."""
    parents = _parents()
    out: dict[str, float] = {}
    for code, s in scores.items():
        c: str | None = code
        while c is not None:
            out[c] = out.get(c, 0.0) + s
            c = parents.get(c)
    return out


def _decide(raw: Mapping[str, float]) -> tuple[str, float, dict[str, float]]:
    agg = _aggregate(raw)
    groups = {c: s for c, s in agg.items() if "." not in c and c != OTHER}
    if not groups:
        return OTHER, 0.0, agg
    best_group, total = max(groups.items(), key=lambda kv: kv[1])
    if total < MIN_EVIDENCE:
        return OTHER, round(max(0.0, 0.3 - total / 2), 3), agg
    leaves = {c: s for c, s in raw.items() if c.startswith(best_group + ".")}
    code = best_group
    leaf_share = 0.8
    if leaves:
        leaf, leaf_score = max(leaves.items(), key=lambda kv: kv[1])
        # A leaf needs evidence of its own; weak leaf evidence still wins when nothing speaks
        # for the group as a whole ("n = 3, p < 0.05" alone → chart, not "graphics").
        if leaf_score >= LEAF_MIN or leaf_score >= raw.get(best_group, 0.0):
            code = leaf
            leaf_share = math.sqrt(leaf_score / total)
    share = total / sum(groups.values())
    strength = 1.0 - math.exp(-total / 2.0)
    return code, round(share * strength * leaf_share, 3), agg


def classify(texts: PanelTexts, image: Image.Image | None = None) -> ModalityResult:
    """Modality of one panel (or of a whole figure when ``texts.subcaption`` is None)."""
    if not isinstance(texts, PanelTexts):
        raise TypeError(f"classify() expects PanelTexts, got {type(texts).__name__}")
    sub = _clean(texts.subcaption, "PanelTexts.subcaption")
    cap = _clean(texts.caption, "PanelTexts.caption")
    citances = texts.citances or ()
    if isinstance(citances, (str, bytes)):
        citances = (citances,)
    cit = " \n".join(
        _clean(getattr(c, "text", c), "PanelTexts.citances[]") for c in citances  # str or a Citance
    )[:MAX_TEXT_CHARS]

    tally = _Tally()
    if texts.subcaption is not None:
        near = _score_text(tally, "subcaption", sub, _WEIGHTS_PANEL["subcaption"])
        near += _score_text(tally, "citance", cit, _WEIGHTS_PANEL["citance"])
        # The caption supports what the panel's own words point at; it may bring in another
        # group (another panel's modality) only at half that weight.
        w = _WEIGHTS_PANEL["caption"] if near >= QUIET_PANEL else _CAPTION_WEIGHT_QUIET_PANEL
        near_groups = {group_of(c) for c in tally.scores}
        other = w if not near_groups else w / 2
        _score_text(tally, "caption", cap, other, group_weights={g: w for g in near_groups})
    else:
        _score_text(tally, "caption", cap, _WEIGHTS_FIGURE["caption"], TITLE_BONUS)
        _score_text(tally, "citance", cit, _WEIGHTS_FIGURE["citance"])

    if image is not None:
        from captions.image_cues import image_votes  # numpy/Pillow only when an image is given

        for code, amount, note in image_votes(image):
            tally.add(code, amount, "image", note)

    code, confidence, agg = _decide(tally.scores)
    evidence = tally.notes(MAX_EVIDENCE_ITEMS)
    scores = {c: round(s, 3) for c, s in sorted(agg.items(), key=lambda kv: -kv[1])}
    return ModalityResult(code, confidence, evidence, scores)


def figure_modalities(results: Iterable[ModalityResult], min_confidence: float = 0.0) -> list[str]:
    """The figure's modalities: the sorted set of its panels' codes. ``other`` is reported only
    when no panel got anything else."""
    codes = {r.code for r in results if r.confidence >= min_confidence or r.code == OTHER}
    known = codes - {OTHER}
    return sorted(known) if known else sorted(codes)


def dominant(results: Sequence[ModalityResult]) -> ModalityResult:
    """A figure's one modality from its panels': the commonest code other than `other` (ties: the
    first panel's), with the mean confidence of its panels and the evidence of the most confident."""
    known = [r for r in results if r.code != OTHER] or list(results)
    counts = Counter(r.code for r in known)
    top = max(counts.values())
    code = next(r.code for r in known if counts[r.code] == top)
    same = [r for r in known if r.code == code]
    best = max(same, key=lambda r: r.confidence)
    evidence = [f"panels: {len(same)} of {len(results)} are {code}", *best.evidence]
    confidence = round(sum(r.confidence for r in same) / len(same), 3)
    return ModalityResult(code, confidence, evidence, {})


# A sentence of a caption without panel labels adds its modality to the figure's set only when it
# names one clearly on its own ("Representative western blots are shown." in a caption about a
# bar chart); weaker sentence evidence is context, not a panel.
SENTENCE_MIN_CONFIDENCE = 0.6
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(])")


def sentence_modalities(caption: str, overall: ModalityResult) -> list[str]:
    """The modalities a caption without panel labels still names, sentence by sentence, beside the
    whole caption's: a figure of fluorescence micrographs and their quantification is both."""
    codes = {overall.code} if overall.code != OTHER else set()
    if not any("." in c and c != overall.code for c in overall.scores):
        return [overall.code]  # a sentence finds only codes the whole caption found: nothing to add
    for sentence in _SENTENCE_RE.split(caption):
        if len(sentence) < 12:
            continue
        r = classify(PanelTexts(sentence, caption))
        if r.code != OTHER and r.confidence >= SENTENCE_MIN_CONFIDENCE and "." in r.code:
            codes.add(r.code)
    # a parent beside one of its own leaves says nothing more ("microscopy" + "microscopy.light")
    codes = {c for c in codes if not any(o != c and o.startswith(c + ".") for o in codes)}
    return sorted(codes) if codes else [overall.code]


def classify_figure(
    caption: str | None,
    *,
    caption_xml: str | None = None,
    citances: Sequence[str] = (),
    panel_citances: Mapping[str, Sequence[str]] | None = None,
    image: Image.Image | None = None,
    panel_images: Mapping[str, Image.Image] | None = None,
    subcaptions: Sequence[tuple[str, str]] | None = None,
    learned: bool = True,
) -> FigureModality:
    """Classify a whole caption and each of its panels (split by ``captions.subcaptions``).

    ``citances`` cite the figure; ``panel_citances`` maps a panel label (as the caption prints
    it, matched case-insensitively) to the sentences that name that panel; ``panel_images`` maps a
    label to the panel's cropped image; ``subcaptions`` ((label, own words) pairs) are used instead
    of splitting the caption again when the caller has them. Without panels in the caption, the
    figure's set comes from its sentences (``sentence_modalities``). With ``learned``, the dominant
    code is the one of that set the learned model (``captions.modality_model``) scores highest.
    """
    cap = _clean(caption, "caption")
    overall = classify(PanelTexts(None, cap, tuple(citances)), image)
    if subcaptions is None:
        from captions.subcaptions import split_caption

        subcaptions = [(s.label, s.text) for s in split_caption(cap, caption_xml)]
    panels: dict[str, ModalityResult] = {}
    pcit = {k.upper(): v for k, v in (panel_citances or {}).items()}
    pimg = {k.upper(): v for k, v in (panel_images or {}).items()}
    for label, words in subcaptions:
        key = label.upper()
        panels[label] = classify(PanelTexts(words, cap, tuple(pcit.get(key, ()))), pimg.get(key))
    if panels:
        fm = FigureModality(overall, panels, figure_modalities(panels.values()), dominant(list(panels.values())))
    else:
        fm = FigureModality(overall, panels, sentence_modalities(cap, overall), overall)
    return _learned_dominant(cap, fm) if learned else fm


def _learned_dominant(caption: str, fm: FigureModality) -> FigureModality:
    from captions.modality_model import default_model

    model = default_model()
    pick = model.pick_dominant(caption, fm) if model is not None else None
    if pick is None or fm.dominant is None or pick == fm.dominant.code:
        return fm
    if pick not in fm.codes:  # the rules found nothing the model knows: its own best code
        fm.codes = [pick]
    same = [r for r in (*fm.panels.values(), fm.overall) if r.code == pick]
    best = max(same, key=lambda r: r.confidence) if same else None
    if best is None:  # the model's own code: its score is the confidence
        score = float(model.score(caption, fm)[model.codes.index(pick)])
        best = ModalityResult(pick, round(score, 3), [f"learned model: {pick} {score:.2f}"], {})
    evidence = [f"learned pick among {', '.join(fm.codes)}: {pick}", *best.evidence]
    fm.dominant = ModalityResult(pick, best.confidence, evidence, {})
    return fm
