"""A learned panel-marker tagger beside the rules: a linear-chain CRF over the caption's tokens.

The rules in ``captions.markers`` decide which letters of a caption are panel markers with hand-written
tests (scheme, sequence, boundary, neighbours); they were tuned on a few gold sets and miss shapes they
never saw (issue 13). This tagger learns the same decision from the hand-split gold: every token is
tagged ``open`` (a marker whose panel's words follow), ``close`` (whose words precede) or ``O``, from
features of the token and its neighbours *and* the rules' own verdict on it, so it keeps what the rules
get right and learns where they fail. The text is then cut by the same assembly as the rules
(``captions.subcaptions.assemble``): only the choice of markers is learned.

Training tags come from the gold alone (``gold_tags``): a label-like token that names a gold panel is a
marker when the gold panel texts never hold it next to its neighbours (markers are removed from panel
texts; a mention such as "quantified in C" is kept), and it opens its panel when the words after it
start that panel's text. CRFsuite (python-crfsuite) trains in seconds on CPU and tags about 10,000
captions per CPU-second; the model is a few hundred kB.

    python -m captions.marker_tagger train [--gold DIR ...] [--out PATH]   # dev split of the gold only
"""

from __future__ import annotations

import argparse
import bisect
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import pycrfsuite

from captions.gold import GoldFigure, load_gold_dir, load_jsonl
from captions.markers import (
    CLOSE,
    MEDIUM,
    OPEN,
    REF,
    CaptionText,
    Marker,
    _make,
    caption_text,
    find_candidates,
    select_markers,
)
from figmine.panel_labels import PRIMES, panel_key

__all__ = ["MODEL", "RuleView", "Token", "tokenize", "features", "gold_tags", "MarkerTagger", "default_tagger", "label_like_tokens", "train"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(__file__).parent / "models" / "marker_crf.crfsuite"
# Gold the shipped model was trained on: the dev side of every repository gold set (never test).
TRAIN_GOLD = (
    ROOT / "tests/fixtures/subcaptions/gold-v2",
    ROOT / "tests/fixtures/subcaptions/gold_cc_by.jsonl",
    ROOT / "tests/fixtures/subcaptions/gold_selfwritten.jsonl",
)

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
# A token that can be a panel label: a letter, a letter with a number or roman sub-label, a roman numeral.
_LABEL = r"(?:[A-Za-z]\d{0,2}|[A-Za-z](?:i{1,3}|iv|vi{0,3}|ix)|[ivx]{1,4}|[IVX]{1,4})"
_LABELISH_RE = re.compile(rf"^{_LABEL}$")
_SEPARATORS = frozenset({"-", "–", "—", "‐", "‑", "‒", "−", ",", "&", "/", "+", "and", "to", "or"})
_SENT_END = frozenset(".;:!?")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


_LABEL_TOKEN_RE = re.compile(rf"(?<![\w′’']){_LABEL}(?!\w)")


def label_like_tokens(text: str) -> list[str]:
    """The tokens of a caption that could be panel labels (the only tokens the tagger can cut at)."""
    return _LABEL_TOKEN_RE.findall(text)


def _shape(t: str) -> str:
    if t.isdigit():
        return "d"
    if len(t) == 1:
        return "X" if t.isupper() else "x" if t.islower() else "p"
    s = re.sub(r"[A-Z]+", "X", re.sub(r"[a-z]+", "x", re.sub(r"\d+", "d", t)))
    return s[:4]


def _letter(t: str) -> int | None:
    return ord(t[0].lower()) - 97 if _LABELISH_RE.match(t) and t[0].isalpha() else None


@dataclass(frozen=True, slots=True)
class RuleView:
    """What the rules make of a caption: every candidate marker and the markers they keep."""

    candidates: list[Marker]
    chosen: list[Marker]

    @classmethod
    def of(cls, ct: CaptionText) -> RuleView:
        cands = find_candidates(ct)
        return cls(cands, select_markers(ct.text, cands))


def _rule_verdicts(ct: CaptionText, toks: Sequence[Token], rules: RuleView | None = None) -> tuple[list[str], list[str]]:
    """Per token: the kind the rules gave the marker covering it, and the kind of the raw candidate."""
    rules = RuleView.of(ct) if rules is None else rules
    cands, chosen = rules.candidates, rules.chosen
    rule = ["none"] * len(toks)
    cand = ["none"] * len(toks)
    starts = [t.start for t in toks]
    for marks, out in ((cands, cand), (chosen, rule)):
        for m in marks:
            for i in range(bisect.bisect_left(starts, m.start), len(toks)):
                if toks[i].start >= m.end:
                    break
                if _LABELISH_RE.match(toks[i].text):
                    out[i] = m.kind
    return rule, cand


def sequence(toks: Sequence[Token]) -> list[int]:
    """Indices of the label-like tokens: the sequence the CRF tags (every other token is "O")."""
    return [i for i, t in enumerate(toks) if _LABELISH_RE.match(t.text)]


def _gap(n: int) -> str:
    return "1" if n <= 1 else "2" if n == 2 else "3-5" if n <= 5 else "6-15" if n <= 15 else "far"


def features(
    ct: CaptionText, toks: Sequence[Token] | None = None, rules: RuleView | None = None, seq: Sequence[int] | None = None
) -> list[list[str]]:
    """CRFsuite feature strings for each label-like token (``sequence``): the token, its neighbours'
    words, the rules' verdicts, and how it continues the label-like token before it."""
    toks = tokenize(ct.text) if toks is None else toks
    seq = sequence(toks) if seq is None else seq
    if not seq:
        return []
    rule, cand = _rule_verdicts(ct, toks, rules)
    bold = ct.bold_spans
    text = ct.text
    n = len(toks)
    singles = [toks[i].text for i in seq if len(toks[i].text) == 1]
    major = "U" if sum(c.isupper() for c in singles) >= sum(c.islower() for c in singles) else "L"
    letters = {i: _letter(toks[i].text) for i in seq}
    later: dict[tuple[bool, int], int] = {}
    for i in seq:
        if letters[i] is not None:
            later[(toks[i].text[0].isupper(), letters[i])] = i
    seen: set[tuple[bool, int]] = set()
    out: list[list[str]] = []
    prev: int | None = None
    for i in seq:
        t = toks[i]
        w = t.text
        up = w[0].isupper()
        k = letters[i]
        f = ["bias", f"s={_shape(w)}", f"w={w}", f"rule={rule[i]}", f"cand={cand[i]}",
             f"case={'U' if up else 'L'}", f"major={major}"]
        if k is not None:
            f += [f"k={min(k, 8)}", f"prev_seen={(up, k - 1) in seen or k == 0}",
                  f"next_later={later.get((up, k + 1), -1) > i}"]
            seen.add((up, k))
        if bold and any(a <= t.start < b for a, b in bold):
            f.append("bold")
        before = text[max(0, t.start - 2) : t.start].strip()
        f.append(f"after_stop={bool(before) and before[-1] in _SENT_END}")
        if t.start == 0 or not text[: t.start].strip():
            f.append("at_start")
        if text[max(0, t.start - 1) : t.start] == "\n":
            f.append("line_start")
        if prev is None:
            f.append("first")
        else:
            f.append(f"gap={_gap(i - prev)}")
            between = text[toks[prev].end : t.start]
            if any(c in _SENT_END for c in between):
                f.append("stop_between")
            pk = letters[prev]
            if pk is not None and k is not None:
                same_case = toks[prev].text[0].isupper() == up
                f.append(f"step={'+1' if same_case and k == pk + 1 else '0' if same_case and k == pk else 'other'}")
        for d in (-3, -2, -1, 1, 2, 3):
            j = i + d
            if 0 <= j < n:
                o = toks[j].text
                if abs(d) <= 2:
                    f.append(f"{d}:s={_shape(o)}")
                if len(o) <= 12:
                    f.append(f"{d}:w={o.lower()}")
            else:
                f.append(f"{d}:edge")
        out.append(f)
        prev = i
    return out


# --------------------------------------------------------------------------------------------
# Tags from the gold
# --------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+")


def _words(s: str) -> list[str]:
    return _WORD_RE.findall(s)


def _ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def gold_tags(fig: GoldFigure, ct: CaptionText | None = None, toks: Sequence[Token] | None = None) -> list[str]:
    """Per token "open" / "close" / "O" as the gold panel texts imply (see the module docstring).

    A label-like token naming a gold panel is a marker unless a gold text keeps it beside a neighbour
    word. Its kind is the rules' where they cut there (open and close are the rules' finer reading);
    elsewhere it opens when the words after it start its panel's text, and closes when the words
    before it end that text."""
    ct = caption_text(fig.caption, fig.caption_xml) if ct is None else ct
    toks = tokenize(ct.text) if toks is None else toks
    tags = ["O"] * len(toks)
    gold = {panel_key(lab): txt for lab, txt in fig.panels if panel_key(lab)}
    if len(gold) < 2:
        return tags
    rule, _ = _rule_verdicts(ct, toks)
    all_bigrams: set[tuple[str, ...]] = set()
    for txt in gold.values():
        all_bigrams |= _ngrams(_words(txt), 2)
    words = [(i, t.text) for i, t in enumerate(toks) if _WORD_RE.fullmatch(t.text)]
    pos_in_words = {i: k for k, (i, _) in enumerate(words)}
    for i, t in enumerate(toks):
        if not _LABELISH_RE.match(t.text):
            continue
        key = panel_key(t.text + (toks[i + 1].text if i + 1 < len(toks) and toks[i + 1].text in PRIMES else ""))
        if key not in gold:
            continue
        k = pos_in_words[i]
        prev_w = words[k - 1][1] if k > 0 else None
        next_w = words[k + 1][1] if k + 1 < len(words) else None
        if (prev_w and (prev_w, t.text) in all_bigrams) or (next_w and (t.text, next_w) in all_bigrams):
            continue  # the gold keeps it as a word: a mention, a gene name, an article
        if rule[i] in (OPEN, CLOSE):
            tags[i] = rule[i]
            continue
        own = _words(gold[key])
        others = [_words(txt) for lab, txt in gold.items() if lab != key]
        after = tuple(w for _, w in words[k + 1 : k + 4] if not _LABELISH_RE.match(w))[:2]
        before = tuple(w for _, w in words[max(0, k - 3) : k] if not _LABELISH_RE.match(w))[-2:]
        tags[i] = _side(after, before, own, others)
    return tags


def _side(after: tuple[str, ...], before: tuple[str, ...], own: list[str], others: list[list[str]]) -> str:
    """OPEN when the words after the label start its panel's own text, CLOSE when the words before it
    end it; words every other panel shares too (a sentence head) are weaker evidence, tried last."""

    def holds(ng: tuple[str, ...], shared_ok: bool) -> bool:
        if not ng or ng not in _ngrams(own, len(ng)):
            return False
        return shared_ok or not all(ng in _ngrams(o, len(ng)) for o in others)

    for shared_ok in (False, True):
        if holds(after, shared_ok):
            return OPEN
        if holds(before, shared_ok):
            return CLOSE
        if after and _content(after[0]) and holds(after[:1], shared_ok):  # "of A, THL and B, MmPPOX"
            return OPEN
        if before and _content(before[-1]) and holds(before[-1:], shared_ok):
            return CLOSE
    return "O"


_FUNCTION_WORDS = frozenset("and or of in on at to the a an with by for from as is are was were".split())


def _content(word: str) -> bool:
    return len(word) > 2 and word.lower() not in _FUNCTION_WORDS


# --------------------------------------------------------------------------------------------
# Tagging and turning tags into markers
# --------------------------------------------------------------------------------------------


class MarkerTagger:
    """Markers of a caption as the CRF tags them, cut like the rules' markers."""

    def __init__(self, model: Path = MODEL) -> None:
        if not model.exists():
            raise FileNotFoundError(f"no marker tagger model at {model} (python -m captions.marker_tagger train)")
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(model))

    def tags(self, ct: CaptionText, toks: Sequence[Token], rules: RuleView | None = None) -> list[str]:
        """A tag per token: the CRF's for the label-like ones, "O" for the rest."""
        tags = ["O"] * len(toks)
        seq = sequence(toks)
        if seq:
            for i, tag in zip(seq, self._tagger.tag(features(ct, toks, rules, seq))):
                tags[i] = tag
        return tags

    def markers(self, ct: CaptionText, rules: RuleView | None = None) -> list[Marker]:
        rules = RuleView.of(ct) if rules is None else rules
        toks = tokenize(ct.text)
        return markers_from_tags(ct, toks, self.tags(ct, toks, rules), rules.chosen)


def markers_from_tags(
    ct: CaptionText, toks: Sequence[Token], tags: Sequence[str], rule_marks: Sequence[Marker] | None = None
) -> list[Marker]:
    """Markers for tagged tokens. Tagged labels joined only by separators ("A–C", "A and B") form one
    group; the marker spans its brackets. Where the rules found a marker over the same label, theirs is
    kept with the tagged kind (it carries the rules' finer reading: inline, subject, lead); the rules'
    mentions of labels the tagger does not cut at stay mentions (a mentioned panel inherits the clause)."""
    text = ct.text
    if rule_marks is None:
        rule_marks = RuleView.of(ct).chosen
    groups: list[tuple[int, int, str]] = []  # token index span [i, j] and kind
    i = 0
    while i < len(toks):
        if tags[i] not in (OPEN, CLOSE):
            i += 1
            continue
        j = i
        while True:
            k = j + 1
            while k < len(toks) and toks[k].text in PRIMES:
                k += 1
            sep = k
            while sep < len(toks) and toks[sep].text.lower() in _SEPARATORS:
                sep += 1
            if sep > k and sep < len(toks) and tags[sep] in (OPEN, CLOSE, "O") and _LABELISH_RE.match(toks[sep].text) \
                    and (tags[sep] != "O" or toks[k].text in "-–—‐‑‒−"):
                j = sep
                continue
            j = k - 1
            break
        groups.append((i, j, tags[i]))
        i = j + 1
    out: list[Marker] = []
    used_rule: set[int] = set()
    for i, j, kind in groups:
        start, end = toks[i].start, toks[j].end
        rule = next(
            (m for m in rule_marks if m.start <= start < m.end or start <= m.start < end), None
        )
        if rule is not None and id(rule) not in used_rule:
            used_rule.add(id(rule))
            out.append(rule if rule.kind == kind else replace(rule, kind=kind, inline=rule.inline and kind == OPEN))
            continue
        s, e = start, end
        if s > 0 and text[s - 1] in "([":
            s -= 1
            if e < len(text) and text[e] in ")]":
                e += 1
        elif e < len(text) and text[e] in ".):":
            e += 1
        m = _make(s, e, text[start:end], kind, "paren" if text[s : s + 1] in "([" else "punct", MEDIUM)
        if m is not None:
            out.append(m)
    if len({lab for m in out for lab in m.labels}) < 2:
        return []
    schemes = {m.scheme for m in out}
    if len(schemes) > 1:  # one scheme per caption, as the rules require: keep the commoner
        major = max(schemes, key=lambda s: sum(len(m.labels) for m in out if m.scheme == s))
        out = [m for m in out if m.scheme == major]
    cut_labels = {lab for m in out for lab in m.labels}
    spans = [(m.start, m.end) for m in out]
    for m in rule_marks:
        if m.kind == REF or all(not (a <= m.start < b or m.start <= a < m.end) for a, b in spans):
            if set(m.labels) <= cut_labels and all(not (a <= m.start < b) for a, b in spans):
                out.append(m if m.kind == REF else replace(m, kind=REF))
    out.sort(key=lambda m: (m.start, 0 if m.kind != REF else 1))
    return out


@lru_cache(maxsize=1)
def default_tagger() -> MarkerTagger | None:
    """The shipped model, loaded once per process; None (rules alone) when it is missing."""
    if not MODEL.exists():
        log.warning("no marker tagger model at %s: subcaptions come from the rules alone", MODEL)
        return None
    return MarkerTagger(MODEL)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def load_training_gold(paths: Iterable[Path] = TRAIN_GOLD, split: str = "dev") -> list[GoldFigure]:
    figs: list[GoldFigure] = []
    for p in paths:
        figs += load_gold_dir(p) if p.is_dir() else load_jsonl(p)
    return [f for f in figs if f.split == split]


def train(figs: Sequence[GoldFigure], out: Path, c1: float = 1.0, c2: float = 0.001, iterations: int = 200) -> Path:
    """Train on gold figures (L1 1.0 / L2 0.001: best of six settings in 5-fold cross-validation on dev)."""
    trainer = pycrfsuite.Trainer(verbose=False)
    for fig in figs:
        ct = caption_text(fig.caption, fig.caption_xml)
        toks = tokenize(ct.text)
        seq = sequence(toks)
        if seq:
            tags = gold_tags(fig, ct, toks)
            trainer.append(features(ct, toks, seq=seq), [tags[i] for i in seq])
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": iterations, "feature.possible_transitions": True})
    out.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the CRF panel-marker tagger on the dev split of the gold")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--gold", type=Path, action="append", help="gold folder or .jsonl (default: the repository gold)")
    t.add_argument("--out", type=Path, default=MODEL)
    args = ap.parse_args(argv)
    figs = load_training_gold(args.gold or TRAIN_GOLD)
    train(figs, args.out)
    print(f"trained on {len(figs)} dev captions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
