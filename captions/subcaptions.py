"""Split a compound-figure caption into one subcaption per panel.

``split_caption(caption, caption_xml=None)`` returns ``Subcaption(label, text, full_text)`` per
panel label found by ``captions.markers`` (the rules) or, where it names more panels than they do,
by the learned marker tagger (``captions.marker_tagger``; ``split_caption_rules`` is the rules alone):

- ``text`` — the panel's own words: the clauses its markers announce or close;
- ``full_text`` — a caption that stands alone for that panel: the shared title and shared sentences
  (text before the first marker, text after the last closing marker), plus the panel's own words,
  with the markers themselves removed. This is the convention of the hand-split gold sets
  (compound-figure-separator's prostate set; SourceData's curated EMBO panel captions).

How the caption is cut:

- an *opening* marker ("(B) MRI of…") owns the text up to the next opening marker; a range or list
  ("(A–C) Volcano plots…", "E, F. Effects of…") gives that text to every panel it names;
- a *closing* marker ("…stained for LDLR (a); …") owns the text since the previous marker (the
  first one: since the start of its sentence); inside an opening group, closing markers that name
  panels of the group ("(D–F) In prostate, obscure (D), infiltrates (D and E) …, nerves (F).")
  subdivide it, and the words they do not claim stay with the whole group;
- a label that opens again later ("Data information: (C, F) Mean is shown") adds that clause to
  its panels;
- a label only mentioned ("…activation, quantified in C.") that never gets words of its own
  inherits the clause that mentions it;
- what follows the last panel's first sentence is shared by all panels when it speaks for the
  whole figure: generic sentences ("Scale bars, 50 µm.", "Original magnification ×200.", "Arrows
  indicate…") unless every panel carries such sentences of its own, or any sentences at all when
  every other panel is described in a single sentence ("(A) Liver (B) Lung. Expression is seen
  mainly in endothelial cells.").

Words the source glued together at its line breaks ("twoseparate", "Insetsare") are split again
in ``text`` and ``full_text`` (``captions.respace``).

A caption with fewer than two panel labels is not compound: the result is an empty list.
Worst-case time is about linear in the caption length (a 100 kB caption takes well under a second).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from captions.marker_tagger import RuleView, default_tagger, label_like_tokens
from captions.markers import (
    CLOSE,
    OPEN,
    POSITION_WORDS,
    REF,
    CaptionText,
    Marker,
    caption_text,
    markers_or_positions,
)
from captions.respace import respace
from figmine.panel_labels import panel_key

__all__ = ["Subcaption", "split_caption", "split_caption_rules", "assemble", "MAX_CAPTION_CHARS"]

# Only the first MAX_CAPTION_CHARS characters of a caption are split (real PMC captions stay under
# ~10 kB; the bound keeps garbage input cheap).
MAX_CAPTION_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class Subcaption:
    """One panel's caption: ``label`` as written ("A", "b", "B1", "B′", "iii", "left"), ``text``
    (its own words) and ``full_text`` (self-contained: shared title and sentences + own words)."""

    label: str
    text: str
    full_text: str


_FIG_PREFIX_RE = re.compile(
    r"^\s*(?:Figure|FIGURE|Fig\.?|FIG\.?|Supplementary\s+Figure|Extended\s+Data\s+Fig(?:ure)?\.?)"
    r"\s*S?\d+[A-Za-z]?\s*(?:[.:|]|[-–—]\s)\s*"
)
# A full stop after "Fig.", "Eq.", "Ref." … (always followed by a number) does not end a sentence
# ("…on plate A (Fig. 1)."), unless a line break (a paragraph or title boundary) follows. ("e.g.",
# "i.e.", "et al." are left as they were: the rules that count a panel's sentences were tuned with them.)
_NOT_ABBREVIATION = "".join(
    rf"(?<!\b{a})"
    for a in ("Fig", "Figs", "fig", "figs", "Eq", "Eqs", "Ref", "Refs", "Supp", "Suppl", "No")
)
_SENT_END_RE = re.compile(rf"(?:{_NOT_ABBREVIATION}(?:[.!?;\n](?=\s|$)|[.!?](?=[A-Z(\[]))|[.!?](?=\n))")
_FULL_STOP_RE = re.compile(rf"(?:{_NOT_ABBREVIATION}(?:[.!?\n](?=\s|$)|[.!?](?=[A-Z(\[]))|[.!?](?=\n))")
_CLAUSE_END_RE = re.compile(rf"(?:{_NOT_ABBREVIATION}(?:[.!?;:\n](?=\s|$)|[.!?](?=[A-Z(\[]))|[.!?](?=\n))")
# Sentences that speak for the whole figure when they close it ("Scale bars, 50 µm.",
# "Original magnification ×200.", "Arrows indicate…", "Data are mean ± SD.", "Abbreviations: …").
_GENERIC_RE = re.compile(
    r"^(?:(?:Original|Final|Higher|Lower|Low|High|Total)\s+)?[Mm]agnifications?\b"
    r"|^(?:The\s+)?(?:(?:White|Black|Scale|Calibration|Size|white|black|scale|calibration|size)\s+)?[Bb]ars?\s*"
    r"(?:[=:,(]|\d|in\b|represent|indicate|correspond|are\b|is\b)"
    r"|^(?:The\s+)?[Ss]cale\b|^[×x*]?\s*\d+\s*[×x*]?\s*(?:original\s+)?magnification"
    r"|^(?:Black |White |Red |Yellow |Open |Closed |Filled |The )?(?:[Aa]rrows?|[Aa]rrowheads?|[Aa]sterisks?)\b"
    r"|^(?:Abbreviations?|Insets?|Key|Legend|Note)\b"
    r"|^All\s+(?:images|panels|pictures|photographs|sections|micrographs|photos|data|values|experiments|scale)\b"
    r"|^(?:Images|Photographs|Sections|Results|Data|Pictures|Micrographs|Photomicrographs)\b[^.]{0,40}\brepresentative"
    r"|^Representative\b|^(?:Data|Values|Results)\s+(?:are|were|represent|show|is)\b|^Error\s+bars?\b"
    r"|^(?:Hematoxylin|Haematoxylin|H\s?&\s?E\b|HE\b|Counterstain)"
    r"|^See\s+(?:also|text|Methods|Materials)|^Details\b|^Reproduced\b|^Adapted\b|^Thresholds\b"
    r"|\b(?:all|each|both)\s+(?:panels|images|pictures|sections|cores|photographs|micrographs)\b"
    # statistics notes: "**p<0.01; ***p<0.001", "n.s., not significant", "Mean ± SEM", "n = 5 mice",
    # "Two-way ANOVA with…", "Student's t-test"
    r"|^[*#†‡§]+\s*,?\s*[Pp]\s*[<≤=]|^[Pp]\s*[<≤]\s*0|^[Pp][- ]?values?\b|^(?:n\.s\.|NS|ns)(?:\W|$)"
    r"|^(?:Statistical|Statistics|Significance|Significant\s+differences?)\b"
    r"|^(?:Means?|Bars?|Values?|Data)\s*(?:±|\+/?-|\(±)|^[Nn]\s*=\s*\d"
    r"|^(?:One|Two|Three)[- ]way\s+(?:repeated[- ]measures\s+)?ANOVA|^ANOVA\b"
    r"|^(?:(?:Unpaired|Paired|Two-tailed|Two-sided)\s+)*(?:Student['’]?s?\s+)?t[- ]tests?\b|^Student['’]s\b"
    r"|^(?:Mann[-–]Whitney|Kruskal[-–]Wallis|Wilcoxon|Tukey|Dunnett|Bonferroni|Fisher['’]s|Log[- ]rank)\b"
)

_QUANTIFIED_IN_RE = re.compile(
    r"\b(?:quantified|quantification|quantitated|summarized|plotted|analy[sz]ed)\s+(?:is\s+shown\s+)?in\s*[\(\[]?\s*$",
    re.I,
)
_HEADING_TAIL_RE = re.compile(r"\s*\b[Dd]ata\s+[Ii]nformation\s*:?\s*$")


_LEAD_JUNK = " ,;:.)]|•·-\u2013\u2014"
_TRAIL_JUNK = " ,;([|•·-\u2013\u2014"
_TRAIL_WORD_RE = re.compile(r"\s+(?:and|or|but|whereas|while)$")


def _clean(s: str) -> str:
    """Collapse whitespace and trim the separators a cut leaves behind ("; a consecutive…")."""
    s = " ".join(s.split())
    if "nformation" in s:
        s = _HEADING_TAIL_RE.sub("", s)
    s = s.lstrip(_LEAD_JUNK).rstrip(_TRAIL_JUNK)
    if s[:4] in ("and ", "but ") or s[:3] == "or " or s[:8] == "whereas " or s[:6] == "while ":
        s = s.split(" ", 1)[1].lstrip(_LEAD_JUNK)
    if s.endswith(("and", "or", "but", "while", "whereas")):
        if s in ("and", "or", "but", "while", "whereas"):
            return ""  # the conjunction left between two labels: "(c), and d enlarged view…"
        s = _TRAIL_WORD_RE.sub("", s).rstrip(_TRAIL_JUNK)
    return s


def _sentence_start(text: str, pos: int, floor: int = 0, ends: re.Pattern = _SENT_END_RE) -> int:
    """Start of the sentence that contains ``pos`` (not before ``floor``); sentence ends inside
    brackets ("(arrows; arrowhead shows a mitotic figure)") do not count."""
    last = floor
    depth = 0
    prev = floor
    for m in ends.finditer(text, floor, pos):
        chunk = text[prev : m.start()]
        depth += chunk.count("(") + chunk.count("[") - chunk.count(")") - chunk.count("]")
        depth = max(depth, 0)
        prev = m.start()
        if depth == 0:
            last = m.end()
    return last


def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if not p:
            continue
        if not out:
            out = p
        else:
            out = f"{out} {p}"
    return out


_OPEN_ENDED_RE = re.compile(r"\b(?:of|for|in|on|by|with|at|to|from|and|or|the|a|an|between|showing|of the)$")


def _join_sentences(parts: list[str]) -> str:
    """Join text blocks, ending a block with a full stop when it lacks one and the next block
    starts a new sentence (not when it continues one: "…determined by either" + "immunohistochemistry")."""
    parts = [p for p in parts if p]
    out = []
    for i, p in enumerate(parts):
        if (
            i < len(parts) - 1
            and not re.search(r"[.!?:;。！？；：]['\"”’)]*$", p)
            and not parts[i + 1][:1].islower()
            and not _OPEN_ENDED_RE.search(p)  # "TEM images of" + "Ag/ZnO-30": one phrase, no full stop
        ):
            p += "."
        out.append(p)
    return " ".join(out)


def split_caption(caption: str, caption_xml: str | None = None, *, learned: bool = True) -> list[Subcaption]:
    """Subcaptions of a compound-figure caption; [] when the caption names fewer than two panels.

    ``caption`` is plain text (markup inside it is tolerated and stripped); ``caption_xml`` is the
    caption's JATS/HTML markup when available — bold labels in it (``<bold>A</bold>``,
    ``<b>``, ``<strong>``) are then recognised, and its text is used instead of ``caption``.
    """
    if caption is None:
        caption = ""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a string, not {type(caption).__name__}")
    if caption_xml is not None and not isinstance(caption_xml, str):
        raise TypeError(f"caption_xml must be a string, not {type(caption_xml).__name__}")
    if len(caption) > MAX_CAPTION_CHARS:
        caption = caption[:MAX_CAPTION_CHARS]
    if caption_xml and len(caption_xml) > MAX_CAPTION_CHARS * 2:
        caption_xml = caption_xml[: MAX_CAPTION_CHARS * 2]
    if not caption.strip() and not (caption_xml and caption_xml.strip()):
        return []

    ct = caption_text(caption, caption_xml)
    view = RuleView.of(ct)
    rules = assemble(ct, markers_or_positions(ct.text, view.chosen))
    tagger = default_tagger() if learned else None
    if tagger is None or not could_name_more(ct.text, rules):
        return rules
    tagged = assemble(ct, tagger.markers(ct, view))
    return tagged if _tagger_wins(rules, tagged) else rules


def split_caption_rules(caption: str, caption_xml: str | None = None) -> list[Subcaption]:
    """The rules alone, without the learned tagger (for side-by-side measurement)."""
    return split_caption(caption, caption_xml, learned=False)


def could_name_more(text: str, rules: list[Subcaption]) -> bool:
    """Whether the tagger could name a panel the rules did not: some label-like token of the caption
    is not among the rules' labels (a caption the rules split into A–F with no other single letters
    is left alone, which keeps splitting fast)."""
    if not rules or rules[0].label.split()[0] in POSITION_WORDS:
        return True
    known = {panel_key(s.label) for s in rules}
    return any(panel_key(t) not in known for t in label_like_tokens(text))


def _tagger_wins(rules: list[Subcaption], tagged: list[Subcaption]) -> bool:
    """The tagger's split replaces the rules' only where it names more: the rules found nothing, fell
    back to positional words, or found a strict subset of the tagger's labels. Elsewhere the rules'
    finer reading stands (5-fold cross-validation on the gold-v2 dev split, bench/RESULTS.md)."""
    if not tagged:
        return False
    if not rules or rules[0].label.split()[0] in POSITION_WORDS:
        return True
    return {panel_key(s.label) for s in rules} < {panel_key(s.label) for s in tagged}


def assemble(ct: CaptionText, markers: list[Marker]) -> list[Subcaption]:
    """Cut a caption at its markers (the rules' or a learned tagger's, ``captions.marker_tagger``)."""
    if not markers:
        return []
    text = ct.text
    # A leading "Figure 3." is the figure's label, not part of any panel's caption.
    m = _FIG_PREFIX_RE.match(text)
    floor = m.end() if m and markers[0].start >= m.end() else 0

    # Spaces lost at line breaks in the source ("associationbetween") are put back in the panels' text.
    return [Subcaption(s.label, respace(s.text), respace(s.full_text)) for s in _assemble(text, markers, floor)]


def _assemble(text: str, markers: list[Marker], floor: int) -> list[Subcaption]:
    cuts = [m for m in markers if m.kind in (OPEN, CLOSE)]
    refs = [m for m in markers if m.kind == REF]

    own: dict[str, list[str]] = {}
    keys: dict[str, int] = {}
    shared_pre: list[str] = []
    shared_post: list[str] = []
    segments: list[tuple[int, int, tuple[str, ...]]] = []  # owned spans, for mentioned labels

    def give(labels: tuple[str, ...], start: int, end: int) -> None:
        s = _clean(text[start:end])
        for lab in labels:
            own.setdefault(lab, [])
            if s and (not own[lab] or own[lab][-1] != s):
                own[lab].append(s)
        if s:
            segments.append((start, end, labels))

    for mk in cuts:
        for lab, k in zip(mk.labels, mk.keys):
            keys.setdefault(lab, k)
            own.setdefault(lab, [])

    current: tuple[str, ...] | None = None  # the panels the running text belongs to
    reopened = False  # the last opening marker named panels already described
    group: set[str] = set()  # labels of the last opening marker
    fresh = False  # the current group was just opened and owns no text yet
    seen: set[str] = set()
    solo: set[str] = set()  # panels that had a marker of their own (not only a range or list)
    p = floor  # start of the text not yet given to anyone
    any_close_top = False
    partition_cache: dict[int, bool] = {}  # per opening group: do its closing labels cover it?
    group_start = -1
    for i, m in enumerate(cuts):
        if m.start < p:
            continue
        labels = set(m.labels)
        if m.kind == OPEN:
            cut = m.lead if m.lead >= p else m.start
            if current is None and any_close_top:
                # "Dorsal (A) and transverse (B) view of the VNS. The 1A siblings … (C, D) …": the
                # words after a run of closing labels stay with those panels unless they open later
                run = _closing_run(text, cuts, i, p, floor)
                later = {lab for c in cuts[i:] if c.kind == OPEN for lab in c.labels}
                if run and not set(run) & later:
                    give(run, p, cut)
                else:
                    shared_pre.append(text[p:cut])
            elif current is None:
                shared_pre.append(text[p:cut])
            else:
                give(current, p, cut)
            if cut < m.start:
                give(m.labels, cut, m.start)  # "Lower left (A): …" keeps "Lower left"
            reopened = labels <= seen
            group_start = i
            current, group, fresh = m.labels, labels, True
            seen |= labels
            if len(labels) == 1:
                solo |= labels
            p = m.end
            continue
        # closing marker
        if current is None:  # before any opening label: the title region or a closing-style caption
            start = p
            if not any_close_top:
                start = _sentence_start(text, m.start, p, _CLAUSE_END_RE)
                shared_pre.append(text[p:start])
                any_close_top = True
            else:
                # the rest of the previous label's sentence stays with the labels of that sentence:
                # "…zeta potential (c) of exosomes measured by DLS. … Western blot analysis (d)."
                s0 = _sentence_start(text, m.start, p)
                if s0 > p and re.search(r"\w", text[p:s0]):
                    run = _closing_run(text, cuts, i, p, floor)
                    if run:
                        give(run, p, s0)
                        start = s0
            give(m.labels, start, m.start)
            seen |= labels
            if len(labels) == 1:
                solo |= labels
            p = _subject_clause(text, cuts, i, give)
            continue
        if labels <= group and labels != group:
            # "(A–D) … staining pattern: epithelial area (A), nuclei (B), stroma (C) …"
            # a closing label in a later sentence than the group's last one starts with its
            # sentence: the words left over from the earlier sentence stay with the whole group
            # ("(A–D) Time-lapse images (A and C) and spline graphs (B and D) of two mitochondria
            # contacting each other. Events … (C and D)")
            s0 = max(p, _sentence_start(text, m.start, p, _CLAUSE_END_RE if fresh else _FULL_STOP_RE))
            if group_start not in partition_cache:
                partition_cache[group_start] = _partitions(cuts, i, group)
            if fresh and not re.search(r"\w", text[p:s0]) and not partition_cache[group_start]:
                # the whole group text so far would go to part of the group: "(J–N) Analysis of …
                # with additional washout conditions (L, N)." names a detail, not a sub-panel
                refs.append(m)
                continue
            give(current, p, s0)
            give(m.labels, s0, m.start)
            fresh = False
            if len(labels) == 1:
                solo |= labels
            p = m.end
            continue
        if labels & solo or labels <= group:
            refs.append(m)
            continue  # a mention of a panel described elsewhere
        # a new panel closed inside another one's text: "(a) An FOV … slide. A single vector … (b)."
        s0 = max(p, _sentence_start(text, m.start, p))
        if fresh and m.prep and not re.search(r"\w", text[p:s0]):
            refs.append(m)
            continue  # "B, Src kinase activation, quantified in (C)." is a mention
        give(current, p, s0)
        give(m.labels, s0, m.start)
        current, group, fresh = m.labels, labels, False
        seen |= labels
        if len(labels) == 1:
            solo |= labels
        p = _subject_clause(text, cuts, i, give)
    if current is None:
        if p < len(text):
            # the rest of the last closing label's sentence is still about that panel
            # ("…positive for FLI-1 (C) and CD31; …"); whole sentences after it are shared
            tail_end = p
            if any_close_top and re.match(r"\s*[^\s.;!?]", text[p:]):
                e = _FULL_STOP_RE.search(text, p)
                tail_end = e.end() if e else len(text)
                # … to every panel closed in that sentence: "Dorsal (A) and transverse (B) view
                # of the adult VNS" — "view of the adult VNS" is about A and B
                give(_closing_run(text, cuts, len(cuts), p, floor), p, tail_end)
            (shared_post if any_close_top else shared_pre).append(text[tail_end:])
    else:
        own_end = len(text) if reopened else _generic_tail_start(text, p, segments, current)
        give(current, p, own_end)
        if own_end < len(text):
            shared_post.append(text[own_end:])

    _share_heads(text, cuts, own, floor)
    _share_item_tails(text, cuts, own)

    # labels only mentioned ("quantified in C") inherit the words around the mention
    known = sorted(keys.values())
    segments.sort()
    seg_starts = [seg[0] for seg in segments]
    refs.sort(key=lambda r: r.start)
    mentioned = {k // 100 for r in refs for k in r.keys}
    for r in refs:
        missing = [lab for lab in r.labels if not own.get(lab)]
        if not missing or not known:
            continue
        if r.form not in ("bold", "paren", "bare"):
            continue
        if any(k % 100 or not _may_follow(k // 100, known[-1] // 100, mentioned) for k in r.keys):
            continue
        j = bisect.bisect_right(seg_starts, r.start) - 1
        for s, e, labs in segments[max(0, j - 2) : j + 1]:
            if s <= r.start < e:
                if set(r.labels) & set(labs):
                    break  # a list naming the panel it stands in names things: "lobes (A, B, C, D)" in A
                st = _sentence_start(text, r.start, s)
                if not re.search(r"\w", text[s:st]) or _QUANTIFIED_IN_RE.search(text, max(s, r.start - 30), r.start):
                    st = s  # "…activation, quantified in C": C shows the whole experiment
                words = _clean(text[st:e])
                for lab, k in zip(r.labels, r.keys):
                    if not own.get(lab):
                        own[lab] = [words]
                        keys.setdefault(lab, k)
                break

    # a closing label left without words of its own names a thing, not a panel: "…longitudinal
    # muscle (L) and circular muscle (C)" inside panel B's sentence
    opened = {lab for c in cuts if c.kind == OPEN for lab in c.labels}
    own = {lab: parts for lab, parts in own.items()
           if any(parts) or (lab in keys and (lab in opened or not any(own.values())))}
    if len(own) < 2:
        return []
    pre = _clean(" ".join(shared_pre))
    if _HEADING_ONLY_RE.fullmatch(pre):
        pre = ""  # "Notes: (A) CT scan…": a heading word, not a title shared by the panels
    post = _clean(" ".join(shared_post))
    out = []
    for lab in sorted(own, key=lambda lab: (keys.get(lab, 10**6), lab)):
        mine = _join_sentences(own[lab])
        out.append(Subcaption(lab, mine, _join_sentences([pre, mine, post])))
    return out


_HEADING_ONLY_RE = re.compile(r"(?:Notes?|Legend|Key|Description|Explanation)\s*[:.]?", re.I)
_CLAUSE_BREAK_RE = re.compile(rf",\s*(?:and|but|while|whereas)\b|;|{_NOT_ABBREVIATION}[.!?](?=\s|$)|\band\b(?=\s+(?:the|a|an)\b)")


def _may_follow(letter: int, last: int, mentioned: set[int]) -> bool:
    """A label only mentioned may extend the panels by the next letter, or by two when the letter
    between is mentioned too ("C and D are quantified in E"); not by a jump ("…from the dorsal
    (D) to the ventral (V) midline" after panel T)."""
    return letter <= last + 1 or (letter == last + 2 and last + 1 in mentioned)


# the last preposition before a short first item: "…transcript levels for TSHβ (A) and GPHα (B)"
_HEAD_END_RE = re.compile(r"\b(?:of|for|in|on|from|with|by|at|to|between|showing)\s+")
_ITEM_LEAD_RE = re.compile(r"^\s*(?:,\s*)?(?:and\s+|or\s+|as\s+well\s+as\s+)?")
_MAX_ITEM_WORDS = 4


def _share_heads(text: str, cuts: list[Marker], own: dict[str, list[str]], floor: int) -> None:
    """Short parallel items closed by labels in one sentence share the sentence's head: "Dietary
    exposure altered transcript levels for TSHβ (A) and GPHα (B) in the gland" gives B "Dietary
    exposure altered transcript levels for GPHα …" too. Only when every item is at most four words
    after a preposition that ends the head; longer items are clauses of their own."""
    i = 0
    while i < len(cuts):
        if cuts[i].kind != CLOSE:
            i += 1
            continue
        # (scans start at the previous marker: the sentence cannot start before a marker outside the run)
        s0 = _sentence_start(text, cuts[i].start, max(floor, cuts[i - 1].start) if i else floor)
        run = [cuts[i]]
        j = i + 1
        while (
            j < len(cuts) and cuts[j].kind == CLOSE
            and _sentence_start(text, cuts[j].start, cuts[j - 1].start) <= cuts[j - 1].start
        ):
            run.append(cuts[j])
            j += 1
        i = j
        if len(run) < 2:
            continue
        # the head starts after any label that opens the sentence ("(A)–(C) Representative images of…")
        s0 = max([s0] + [c.end for c in cuts if s0 <= c.end <= run[0].start and c is not run[0]])
        before = text[s0 : run[0].start]
        heads = list(_HEAD_END_RE.finditer(before))
        if not heads:
            continue
        head_end = s0 + heads[-1].end()
        first = text[head_end : run[0].start]
        items = [first] + [_ITEM_LEAD_RE.sub("", text[a.end : b.start]) for a, b in zip(run, run[1:])]
        if any(not item.strip() or len(item.split()) > _MAX_ITEM_WORDS or re.search(r"[.;:]", item) for item in items):
            continue
        head = _clean(text[s0:head_end])
        if not head:
            continue
        for mk, item in zip(run[1:], items[1:]):
            item = _clean(item)
            for lab in mk.labels:
                parts = own.get(lab) or []
                if any(head in part for part in parts):
                    continue
                for k, part in enumerate(parts):
                    if item and part.startswith(item):  # the panel's words begin with its item
                        parts[k] = f"{head} {part}"
                        break


_MAX_TAIL_ITEM_WORDS = 3
# what a shared tail looks like: a plural head noun alone ("views", "sections"), or a noun with its
# prepositional phrase ("cells of adult mice"); "abdominal radiograph" is the last item's own words
_SHARED_TAIL_RE = re.compile(
    r"(?:[a-z][\w-]*s|[a-z][\w-]*s? (?:of|in|from|at|on|during|after|before|under|with|for)\b.*)$"
)


def _share_item_tails(text: str, cuts: list[Marker], own: dict[str, list[str]]) -> None:
    """Short parallel items opened by labels inside one sentence share the words after the last item:
    "Expression in (A) liver and (B) kidney cells of adult mice" gives A "liver cells of adult mice";
    "in A) medial and B) lateral views" gives A "medial views". Only when every item but the last has
    the same one to three words and the last is longer: the last item's words beyond that length are
    the shared tail."""
    i = 0
    while i < len(cuts):
        j = i
        while (
            j + 1 < len(cuts) and cuts[j + 1].kind == OPEN and cuts[j].kind == OPEN
            and not _SENT_END_RE.search(text, cuts[j].end, cuts[j + 1].start)
        ):
            j += 1
        run, i = cuts[i : j + 1], j + 1
        if len(run) < 2 or _boundary_is_sentence(text, run[0].start):
            continue
        items = [_clean(text[a.end : b.start]) for a, b in zip(run, run[1:])]
        end = _SENT_END_RE.search(text, run[-1].end)
        last = text[run[-1].end : end.start() if end else len(text)].split()
        n = len(items[0].split())
        if not 1 <= n <= _MAX_TAIL_ITEM_WORDS or any(len(it.split()) != n for it in items) or len(last) <= n:
            continue
        tail = _clean(" ".join(last[n:]))
        if not tail or tail[:1].isupper() or not _SHARED_TAIL_RE.match(tail):
            continue
        for mk, item in zip(run, items):
            for lab in mk.labels:
                parts = own.get(lab) or []
                for k, part in enumerate(parts):
                    if part == item:
                        parts[k] = f"{item} {tail}"
                        break


def _boundary_is_sentence(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before[-1] in ".!?:;\n"


def _closing_run(text: str, cuts: list[Marker], i: int, p: int, floor: int) -> tuple[str, ...]:
    """Labels of the closing markers in the sentence that ends at ``p`` (before ``cuts[i]``), or
    of the last closing marker: "Dorsal (A) and transverse (B) view…" → ("A", "B")."""
    s0 = _sentence_start(text, p, floor)
    run = [c for c in cuts[:i] if c.kind == CLOSE and s0 <= c.start < p]
    if not run:
        run = [c for c in cuts[:i] if c.kind == CLOSE and c.end <= p][-1:]
    return tuple(dict.fromkeys(lab for c in run for lab in c.labels))


def _subject_clause(text: str, cuts: list[Marker], i: int, give) -> int:
    """After a closing label on a subject ("the CT scan (A) shows a nodule, and …"), the rest of
    its clause belongs to it as well. Returns where the unassigned text now starts."""
    m = cuts[i]
    if not m.subject:
        return m.end
    nxt = next((c.start for c in cuts[i + 1 :] if c.start >= m.end), len(text))
    b = _CLAUSE_BREAK_RE.search(text, m.end, nxt)
    end = b.start() if b else nxt
    # a coordinated subject shares its predicate: "Photograph (A) and X-ray image (B) show …"
    labels = list(m.labels)
    j = i
    while (
        j > 0 and cuts[j - 1].kind == CLOSE and not cuts[j - 1].subject
        and _COORDINATED_RE.fullmatch(text, cuts[j - 1].end, cuts[j].start)
    ):
        labels[:0] = cuts[j - 1].labels
        j -= 1
    give(tuple(dict.fromkeys(labels)), m.end, end)
    return end


# between two closing labels of one coordinated subject: "(A) and X-ray image", "(A), the MRI"
_COORDINATED_RE = re.compile(r"\s*,?\s*(?:(?:and|or)\s+)?[^.,;:!?()\[\]]{1,60}")


def _partitions(cuts: list[Marker], i: int, group: set[str]) -> bool:
    """Whether the closing labels from ``cuts[i]`` on, up to the next opening label, name every
    panel of the group ("(b–d) … hyperplasia (b), low-grade PIN (c), and high-grade PIN (d).")."""
    covered: set[str] = set()
    for c in cuts[i:]:
        if c.kind == OPEN:
            break
        if set(c.labels) <= group:
            covered |= set(c.labels)
    return covered == group


def _sentences(text: str, start: int, end: int, ends: re.Pattern = _FULL_STOP_RE) -> list[tuple[int, int]]:
    """Sentences of text[start:end] (ended by . ! ? or a line break; with ``_SENT_END_RE`` also ;)."""
    out = []
    s = start
    for m in ends.finditer(text, start, end):
        out.append((s, m.end()))
        s = m.end()
    if s < end and text[s:end].strip():
        out.append((s, end))
    return out


def _generic_tail_start(text: str, start: int, segments, current) -> int:
    """Where the figure-wide sentences at the end of the last panel's text begin (or the end).

    The first sentence always stays with the panel. Later sentences are shared when, from the
    first generic one on, every sentence is generic ("Scale bars, 50 µm. Original magnification
    ×200."), unless the other panels carry such sentences of their own (then the last panel's
    are its own too)."""
    sents = _sentences(text, start, len(text))
    others = [(s, e) for s, e, labs in segments if labs != current]
    if len(sents) >= 2 and others and not any(len(_sentences(text, s, e)) > 1 for s, e in others):
        return sents[1][0]  # every other panel is one sentence: what follows the last one is shared
    clauses = _sentences(text, start, len(text), _SENT_END_RE)  # "…colorectal cancer; 10× magnification."
    if len(clauses) < 2:
        return len(text)
    cut = None
    for s, e in reversed(clauses[1:]):
        if _GENERIC_RE.search(text[s:e].strip()):
            cut = s
        else:
            break
    if cut is None:
        return len(text)
    if any(
        _GENERIC_RE.search(text[a:b].strip()) for s, e in others for a, b in _sentences(text, s, e, _SENT_END_RE)[1:]
    ):
        return len(text)  # the other panels carry such sentences of their own
    return cut
