"""Citances: the sentences of an article's text that cite its figures, down to the panel.

Driven by the references rather than by the text: `article.iter("xref")` (fast, in C) finds every
reference to a figure; only the paragraphs holding one are flattened and split into sentences.
A paragraph is flattened once, with the character span of each xref, so each xref lands in
exactly one sentence. All figure references of a sentence make one `Citance`.

Counted as text: paragraphs and list items of `<body>`, of appendices (`<app>`) and of
sub-articles (eLife decision letters, SciELO translations); captions (title and paragraphs) of
figures, figure groups, tables, supplementary material, media, boxes and any other captioned
object, wherever it sits; table footnotes (`<table-wrap-foot>`). Not counted: table cells, section
titles, abstracts, reference lists, footnotes of `<back>`. A figure's caption citing that figure
itself (or a group's caption citing its own figures) is no citance of it; citing another figure
(an eLife figure supplement citing its main figure, a main figure citing its supplement) is.

A citance's `section` says where it was written:

* running text: the title of the innermost titled `<sec>`; in a sub-article without one, the
  sub-article's title ("Decision letter", "Author response"); None when there is neither.
* a caption: the label of the element the caption belongs to, without its trailing "." or ":"
  ("Figure 3—figure supplement 1", "Table 2", "Video 1", "Supplementary file 1", "Figure 2—source
  data 1"); for an unlabelled one, the kind of element ("Figure", "Table", "Supplementary
  material", "Video", "Media", "Box", ...).
* a table footnote: that table's name followed by " footnote" ("Table 2 footnote").
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from copy import deepcopy

from lxml import etree

from harvester.jats.encoding import clean_controls
from harvester.jats.figure_index import FigureIndex
from harvester.jats.panel_refs import FigureMention, parse_mention
from harvester.jats.sentences import SentenceSplitter
from harvester.jats.text import CAPTION_SKIP, TITLE_SKIP, BlockText, clean_text, flatten_block
from harvester.records import Citance

# the innermost of these around an xref decides whether it is running text
_BLOCK_TAGS = frozenset({"p", "list-item", "def", "term", "td", "th", "title", "caption", "label", "attrib"})
_TEXT_BLOCKS = frozenset({"p", "list-item", "def", "term"})
_EXCLUDING = frozenset(
    {"caption", "table", "fig", "fig-group", "ref-list", "abstract", "trans-abstract", "front",
     "front-stub", "back", "article", "sub-article", "response", "floats-group", "floats-wrap",
     "supplementary-material", "kwd-group", "title-group"}
)
_TEXT_ROOTS = frozenset({"body", "app"})
# blocks whose placement is judged from themselves, not from their parent's
_SELF_PLACED = frozenset({"caption", "title", "fn", "table-wrap-foot"})
# what an unlabelled captioned element is called in a citance's section
_KIND_NAMES = {
    "fig": "Figure", "fig-group": "Figure", "table-wrap": "Table", "table-wrap-group": "Table",
    "supplementary-material": "Supplementary material", "media": "Media", "boxed-text": "Box",
    "chem-struct-wrap": "Chemical structure", "disp-formula": "Formula", "graphic": "Graphic",
    "code": "Code", "array": "Array",
}
_NO_IDS: frozenset[str] = frozenset()
# (is counted as text, section, figure ids the block may not cite: its own caption's figures)
_Placement = tuple[bool, str | None, frozenset[str]]
_NOT_TEXT: _Placement = (False, None, _NO_IDS)
# text between two figure xrefs that makes them a range: "Figs <xref>2</xref>–<xref>4</xref>"
_RANGE_GAP = re.compile(r"\s*(?:[-‐‑–—−]|to|through)\s*", re.IGNORECASE)
_FOLLOWING_MAX = 60  # characters after an xref searched for its panel letters
# the figure word printed before an xref that holds only the number: "Fig. <xref>2</xref>B"
_LABEL_BEFORE = re.compile(r"(?:(?:Supplementary|Suppl\.?)\s+)?(?:Figures?|Figs?\.?)\s*$", re.IGNORECASE)
_STARTS_WITH_NUMBER = re.compile(r"[Ss]?\d")


def extract_citances(article: etree._Element, index: FigureIndex) -> list[Citance]:
    """One `Citance` per sentence citing a figure, in document order."""
    if not index.ids:
        return []
    blocks: dict[etree._Element, _Placement] = {}
    judged: set[etree._Element] = set()
    placements: dict[etree._Element, _Placement] = {}
    section_titles: dict[etree._Element, str | None] = {}
    ids = index.ids
    for xref in article.iter("xref"):
        rid = xref.get("rid")
        # most xrefs are citations (rid="B12"): one set lookup rejects them
        if rid is None or (rid not in ids and (" " not in rid or not any(r in ids for r in rid.split()))):
            continue
        # the block and its placement follow from the xref's parent: judge each parent once
        parent = xref.getparent()
        if parent in judged:
            continue
        judged.add(parent)
        block = parent if parent.tag in _TEXT_BLOCKS else _enclosing_block(xref)  # mostly a <p>
        if block is None or block in blocks:
            continue
        # and from the block's parent: sibling paragraphs share it
        where = block if block.tag in _SELF_PLACED else block.getparent()
        placement = placements.get(where)
        if placement is None:
            placement = placements[where] = _placement(block, section_titles)
        if placement[0]:
            blocks[block] = placement
    citances: list[Citance] = []
    for block, (_, section, own) in blocks.items():
        if block.tag == "fn" and block.find("label") is not None:
            block = _without_labels(block)  # a footnote's marker ("a", "*") is no text of it
        citances.extend(_block_citances(flatten_block(block, ids), section, index, own))
    return citances


def _without_labels(el: etree._Element) -> etree._Element:
    copy = deepcopy(el)
    for label in copy.findall("label"):
        tail = label.tail
        parent = label.getparent()
        previous = label.getprevious()
        parent.remove(label)
        if tail:  # keep the text after the marker
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
    return copy


def _enclosing_block(xref: etree._Element) -> etree._Element | None:
    """The paragraph-like element an xref's sentence is cut from: a paragraph or list item, a
    caption's title, a caption or table footnote holding text directly; None for anything else."""
    footnote = None
    for anc in xref.iterancestors():
        tag = anc.tag
        if tag in _BLOCK_TAGS:
            if tag in _TEXT_BLOCKS or tag == "caption":
                return anc
            if tag == "title":
                parent = anc.getparent()
                return anc if parent is not None and parent.tag == "caption" else None
            return None
        if tag == "fn":
            footnote = anc if footnote is None else footnote
        elif tag == "table-wrap-foot":
            return anc if footnote is None else footnote
        elif tag in _EXCLUDING or tag in _TEXT_ROOTS:
            return None
    return None


def _placement(block: etree._Element, titles: dict[etree._Element, str | None]) -> _Placement:
    """(is counted as text, section, own figure ids) of a paragraph-like block: in running text the
    title of the innermost titled `<sec>` (in a sub-article without one, the sub-article's title);
    in a caption or table footnote, the name of what it belongs to (see the module docstring)."""
    section: str | None = None
    for anc in block.iterancestors() if block.tag not in _SELF_PLACED else _self_and_ancestors(block):
        tag = anc.tag
        if tag == "caption":
            return _caption_placement(anc.getparent(), titles)
        if tag == "table-wrap-foot":
            table = anc.getparent()
            return True, f"{_context_name(table, titles) if table is not None else 'Table'} footnote", _NO_IDS
        if tag == "sec":
            if section is None:
                if anc not in titles:  # cached: a section holds many cited paragraphs
                    titles[anc] = clean_controls(clean_text(anc.find("title"), skip=CAPTION_SKIP)) or None
                section = titles[anc]
        elif tag in _TEXT_ROOTS:
            if section is None and tag == "body":
                section = _sub_article_title(anc.getparent(), titles)
            return True, section, _NO_IDS
        elif tag in _EXCLUDING:
            return _NOT_TEXT
    return _NOT_TEXT


def _self_and_ancestors(el: etree._Element) -> Iterator[etree._Element]:
    yield el
    yield from el.iterancestors()


def _caption_placement(owner: etree._Element | None, titles: dict[etree._Element, str | None]) -> _Placement:
    """A caption's placement: named after its element; the figure it captions (a group: with its
    figures) is not cited by it."""
    if owner is None:
        return _NOT_TEXT
    own = _NO_IDS
    if owner.tag == "fig-group":
        own = frozenset(i for el in owner.iter("fig", "fig-group") if (i := el.get("id")))
    elif owner.tag == "fig" and owner.get("id"):
        own = frozenset((owner.get("id"),))
    return True, _context_name(owner, titles), own


def _context_name(owner: etree._Element, names: dict[etree._Element, str | None]) -> str:
    """What a captioned element is called: its label ("Table 2", "Video 1"), else its kind."""
    if owner in names:
        return names[owner] or ""
    label = owner.find("label")
    name = clean_controls(clean_text(label, skip=TITLE_SKIP)).rstrip(" .:") if label is not None else ""
    if not name:
        kind = owner.tag if isinstance(owner.tag, str) else ""
        if kind == "media" and (owner.get("mimetype") or "").lower() == "video":
            name = "Video"
        else:
            name = _KIND_NAMES.get(kind) or kind.replace("-", " ").capitalize() or "Caption"
    names[owner] = name
    return name


_SUB_ARTICLE_TITLES = ("front-stub/title-group/article-title", "front/title-group/article-title")


def _sub_article_title(el: etree._Element | None, titles: dict[etree._Element, str | None]) -> str | None:
    """The article-title of a `<sub-article>` or `<response>` ("Decision letter"); None for the
    main article."""
    if el is None or el.tag not in ("sub-article", "response"):
        return None
    if el not in titles:
        title = None
        for path in _SUB_ARTICLE_TITLES:
            title = clean_controls(clean_text(el.find(path), skip=TITLE_SKIP)) or None
            if title:
                break
        titles[el] = title
    return titles[el]


def _block_citances(
    block: BlockText, section: str | None, index: FigureIndex, own: frozenset[str] = _NO_IDS
) -> list[Citance]:
    """The citances of one flattened block; figures in `own` (a caption's own figure) are not cited."""
    text = block.text
    xrefs = block.xrefs
    if not xrefs:
        return []
    splitter = SentenceSplitter(
        text, protected=[(s, e) for s, e, _ in xrefs], breaks=block.breaks, citations=block.citations
    )
    xref_starts = [s for s, _, _ in xrefs]
    n = len(text)

    citances: list[Citance] = []
    current: Citance | None = None
    sentence_start = sentence_end = -1  # the current sentence; none yet
    prev_end, prev_targets = -1, None
    ids = index.ids
    for start, end, rid in xrefs:
        rids = [rid] if rid in ids and _ONE_ID.fullmatch(rid) else [r for r in rid.split() if r in ids]
        # panels may follow the xref: read on up to the next figure xref
        k = bisect.bisect_right(xref_starts, start)
        stop = min(xref_starts[k] if k < len(xref_starts) else n, end + _FOLLOWING_MAX)
        mentions = parse_mention(text[start:end], text[end:stop])
        targets = resolve_targets(mentions, rids, index)
        if not (sentence_start <= start and end <= sentence_end):  # else: same sentence again
            sentence = splitter.sentence_at(start, end)
            if sentence != (sentence_start, sentence_end):
                sentence_start, sentence_end = sentence
                current = Citance(text=text[sentence_start:sentence_end], section=section, figure_ids=[], panels=[])
                citances.append(current)
                prev_targets = None
        assert current is not None
        if prev_targets and targets and _RANGE_GAP.fullmatch(text, prev_end, start):
            targets = _join_range(prev_targets, targets, index) + targets
        cited = False
        for fid, panels in targets:
            if not own or fid not in own:
                _add(current, fid, panels)
                cited = True
        printed = _printed(text, start, end, mentions) if cited else None
        if printed:
            current.xref_texts.append(printed)
        prev_end, prev_targets = end, targets
    if own:  # a sentence citing only its own figure is none
        return [c for c in citances if c.figure_ids]
    return citances


_ONE_ID = re.compile(r"\S+")  # a rid naming one id: rid.split() == [rid]


def _printed(text: str, start: int, end: int, mentions: list[FigureMention]) -> str:
    """The reference as a reader sees it: the xref text widened to the figure word before it and
    the panel letters after it ("Fig. <xref>2</xref>B" → "Fig. 2B")."""
    if mentions:
        end = max(end, start + mentions[-1].end)  # mention offsets count from the xref start
    first = text[start : start + 1]
    # most xrefs start with their figure word: test one character before running the regexes
    if (first.isdecimal() or first in _S) and _STARTS_WITH_NUMBER.match(text, start):
        before = _LABEL_BEFORE.search(text, max(0, start - 24), start)
        if before is not None:
            start = before.start()
    return text[start:end].strip()


_S = frozenset("Ss")


def _join_range(
    before: list[tuple[str, list[str]]], after: list[tuple[str, list[str]]], index: FigureIndex
) -> list[tuple[str, list[str]]]:
    """Figures (or panels) between two xrefs joined by a dash: "Figs 2–4", "Fig. 2A–C"."""
    (first, first_panels), (last, last_panels) = before[-1], after[0]
    if first == last:
        if first_panels and last_panels:
            lo, hi = ord(first_panels[-1]), ord(last_panels[0])
            if 1 < hi - lo <= 25:
                return [(first, [chr(c) for c in range(lo + 1, hi)])]
        return []
    return [(fid, []) for fid in index.between(first, last)]


def resolve_targets(
    mentions: list[FigureMention], rids: list[str], index: FigureIndex
) -> list[tuple[str, list[str]]]:
    """Pair the numbers a reference prints with the figures its rid names.

    One rid: every panel belongs to it (a printed range "Figs 2–4" with one rid is completed by
    number). Several rids ("F1 F2"): panels go to the rid whose label has the printed number,
    else by position.
    """
    if len(rids) == 1 and len(mentions) == 1:
        return [(rids[0], mentions[0].panels)]
    if len(rids) == 1:
        ids = [rids[0]] * len(mentions)
    else:
        numbers = [index.number(r) for r in rids]
        ids = []
        for i, mention in enumerate(mentions):
            fid = None
            if mention.number is not None:
                fid = next((r for r, n in zip(rids, numbers) if n == mention.number), None)
            ids.append(fid or rids[min(i, len(rids) - 1)])
    out: dict[str, list[str]] = {}
    for i, (mention, fid) in enumerate(zip(mentions, ids)):
        if i > 0 and mentions[i - 1].range_to_next:
            prev = ids[i - 1]
            if len(rids) == 1 and mention.number is not None and mention.number != mentions[i - 1].number:
                fid = index.lookup(mention.number, like=prev) or fid
            for mid in index.between(prev, fid):
                out.setdefault(mid, [])
        panels = out.setdefault(fid, [])
        panels.extend(p for p in mention.panels if p not in panels)
    for rid in rids:
        out.setdefault(rid, [])
    return list(out.items())


def _add(citance: Citance, fid: str, panels: list[str]) -> None:
    if fid not in citance.figure_ids:
        citance.figure_ids.append(fid)
    if panels:
        have = citance.panels_by_figure.setdefault(fid, [])
        have.extend(p for p in panels if p not in have)
        citance.panels.extend(p for p in panels if p not in citance.panels)
