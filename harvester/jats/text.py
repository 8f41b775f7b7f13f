"""Flatten JATS mixed content to clean, whitespace-normalised text.

* `clean_text` (titles, labels, captions): every word kept, styling (italic, bold, sup, sub, ...)
  flattened, block elements (p, title, list-item, ...) separated by one space so that words of
  neighbouring blocks never run together, formulas rendered as readable text.
* `flatten_block` (a paragraph that cites figures): the same inline rules, but nested blocks
  (lists, figures, tables, quotes inside a `<p>`) are left out and mark a hard sentence break, and
  the character span of each wanted `<xref>` is recorded so that citances can be cut from the
  text by offset. Whitespace is collapsed while the text is built, so offsets index the result.

`clean_text` has paths with identical output: an element holding only inline styling (most
captions) is serialised by libxml2 and its tags stripped with one regex (C speed), or, when its
paragraphs are its direct children and it is serialised anyway (captions), libxml2 writes each
child's text; one holding anything that needs a decision (formulas, lists, skipped elements,
entity references) is walked element by element in Python.

Control characters are no text: `flatten_block` drops them (`TextBuilder`), and the callers that
keep a `clean_text` pass it through `encoding.clean_controls` (a no-op for printable text), so no
C0/C1 control character reaches a caption, title, label, section or citance.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree

from harvester.jats.encoding import strip_controls
from harvester.jats.repair import ENTITY_CHARS
from harvester.jats.secure_xml import MATHML_NS


def squash(text: str) -> str:
    """Whitespace runs collapsed to one space, ends trimmed (str.split is C-fast; re's \\s+ is not)."""
    return " ".join(text.split())


MML_MATH = MATHML_NS + "math"
_MML_SKIP = frozenset({MATHML_NS + "annotation", MATHML_NS + "annotation-xml", "annotation", "annotation-xml"})

# elements that are blocks of text: a space goes before and after them
BLOCK_TAGS = frozenset(
    {
        "p", "title", "label", "list", "list-item", "def-list", "def-item", "term", "def",
        "disp-quote", "sec", "caption", "table", "thead", "tbody", "tr", "td", "th", "break",
        "attrib", "statement", "boxed-text", "fn", "table-wrap-foot", "speech", "speaker",
        "verse-group", "verse-line", "preformat", "code", "array", "disp-formula-group",
        "glossary", "ack", "notes", "address", "license-p", "copyright-statement",
    }
)
# never text: images, identifiers, long descriptions for screen readers
QUIET_SKIP = frozenset(
    {"graphic", "inline-graphic", "media", "object-id", "alt-text", "long-desc", "permissions"}
)
# inside captions the embedded supplementary files are separate objects, not caption text
CAPTION_SKIP = QUIET_SKIP | {"supplementary-material"}
# inside titles, footnote/citation markers would glue digits onto words
TITLE_SKIP = QUIET_SKIP | {"xref", "fn"}
# nested blocks inside a cited paragraph: their own text is a separate block
NESTED_BLOCKS = frozenset(
    {
        "p", "list", "list-item", "fig", "fig-group", "table-wrap", "table-wrap-group", "table",
        "disp-quote", "boxed-text", "def-list", "statement", "supplementary-material",
        "chem-struct-wrap", "preformat", "code", "speech", "verse-group", "array", "ref-list",
        "sec", "glossary", "disp-formula-group", "question", "answer",
    }
)
PARAGRAPH_QUIET_SKIP = QUIET_SKIP | {"fn"}
FORMULA_TAGS = frozenset({"inline-formula", "disp-formula"})


class TextBuilder:
    """Accumulates text with whitespace collapsed on the fly, so `length` is a valid offset."""

    __slots__ = ("parts", "length", "_space", "breaks")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self._space = True  # True at the start: leading whitespace is dropped
        self.breaks: list[int] = []

    def add(self, text: str) -> None:
        # most pieces need no normalisation; isprintable() is False for any whitespace but " "
        if "  " in text or not text.isprintable():
            core = " ".join(text.split())
            if not core.isprintable():
                core = strip_controls(core)
            lead = " " if text[0].isspace() else ""
            text = lead + core + (" " if core and text[-1].isspace() else "")
        if not text:
            return
        if text[0] == " " and self._space:
            text = text[1:]
            if not text:
                return
        self.parts.append(text)
        self.length += len(text)
        self._space = text[-1] == " "

    def space(self) -> None:
        if not self._space:
            self.parts.append(" ")
            self.length += 1
            self._space = True

    def hard_break(self) -> None:
        self.space()
        if not self.breaks or self.breaks[-1] != self.length:
            self.breaks.append(self.length)

    def text(self) -> str:
        return "".join(self.parts)


def entity_text(el: etree._Element) -> str:
    """Text of an unexpanded entity reference: HTML named characters only (never a SYSTEM entity)."""
    return ENTITY_CHARS.get(el.name, "")


# --- serialised fast path ---------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_ESCAPE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#(\d+)|#x([0-9a-fA-F]+));")
_ESCAPED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_SEPARATING_TAGS = re.compile(r"</?(?:p|title)(?:\s[^>]*)?/?>")


def _unescape_match(m: re.Match[str]) -> str:
    if m.group(1):
        return _ESCAPED[m.group(1)]
    return chr(int(m.group(2))) if m.group(2) else chr(int(m.group(3), 16))


def _plain(xml: str) -> str:
    """Text of a serialised fragment that holds only inline tags."""
    if "<" in xml:
        xml = _TAG.sub("", xml)
    if "&" in xml:
        xml = _ESCAPE.sub(_unescape_match, xml)
    return xml


_OPEN_TAG_NAME = re.compile(r"<([^\s/>!?]+)")
_ENTITY_REF = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)")
_FORMULA_NAMES = FORMULA_TAGS | {"math", "mml:math", "tex-math"}


def _needs_walk(xml: str, start: int, end: int, special: frozenset[str]) -> bool:
    """Whether serialised content holds anything the tag-stripping path cannot render: a tag in
    `special` (decisions to take), a namespace-prefixed element (MathML) or an unexpanded entity."""
    names = _OPEN_TAG_NAME.findall(xml, start, end)
    if names and (not special.isdisjoint(names) or any(":" in name for name in names)):
        return True
    return "&" in xml and _ENTITY_REF.search(xml, start, end) is not None


def _serialise(el: etree._Element) -> tuple[str, int, int]:
    """(xml, start, end): the element serialised, and the span of its content inside the xml."""
    xml = etree.tostring(el, encoding="unicode", with_tail=False)
    start = xml.find(">") + 1
    if xml[start - 2] == "/":
        return xml, start, start  # <p/>
    return xml, start, xml.rfind("</")


# --- clean text -----------------------------------------------------------------------------


def clean_text(el: etree._Element | None, *, skip: frozenset[str] = QUIET_SKIP, xml: str | None = None) -> str:
    """Clean text of `el` (without its tail): inline styling flattened, blocks space-separated.

    `xml` may pass the element already serialised (captions are serialised anyway)."""
    if el is None:
        return ""
    if not len(el):  # no child nodes (most titles): nothing to serialise
        return squash(el.text or "")
    special = _clean_special(skip)
    if xml is None:
        xml, start, end = _serialise(el)
    else:
        # (a parser that keeps CDATA sections would give text the regex path reads differently)
        if "<![CDATA[" not in xml:
            text = _clean_text_children(el, special)
            if text is not None:
                return text
        start = xml.find(">") + 1
        end = start if xml[start - 2] == "/" else xml.rfind("</")
    if not _needs_walk(xml, start, end, special):
        return squash(_plain(_SEPARATING_TAGS.sub(" ", xml[start:end])))
    return clean_text_walk(el, skip=skip)


_SEPARATED = frozenset({"p", "title"})


def _clean_text_children(el: etree._Element, special: frozenset[str]) -> str | None:
    """`clean_text` of an element (a caption) whose descendants are plain inline elements and
    paragraphs or titles as its direct children: libxml2 writes each child's text (method="text"),
    with the spaces the serialised path puts for the p/title tags. The same output as that path,
    without its regex passes; None for any other element."""
    for node in el.iterdescendants():
        tag = node.tag
        if tag.__class__ is not str or tag in special or tag[0] == "{" or ":" in tag:
            return None  # entities, comments, formulas, skipped or namespaced elements
        if tag in _SEPARATED and node.getparent() is not el:
            return None
    pieces = [el.text or ""]
    for child in el:
        if child.tag in _SEPARATED:
            pieces += (" ", etree.tostring(child, method="text", encoding="unicode", with_tail=False), " ")
            if child.tail:
                pieces.append(child.tail)
        else:
            pieces.append(etree.tostring(child, method="text", encoding="unicode", with_tail=True))
    return squash("".join(pieces))


@lru_cache(maxsize=16)
def _clean_special(skip: frozenset[str]) -> frozenset[str]:
    return skip | _FORMULA_NAMES | (BLOCK_TAGS - {"p", "title"})


def clean_text_walk(el: etree._Element, *, skip: frozenset[str] = QUIET_SKIP) -> str:
    """`clean_text` by walking every element (the general path)."""
    parts: list[str] = []
    _walk_clean(el, parts, skip)
    return squash("".join(parts))


def _walk_clean(el: etree._Element, parts: list[str], skip: frozenset[str]) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:
            if tag is etree.Entity:
                parts.append(entity_text(child))
        elif tag in skip:
            pass
        elif tag in FORMULA_TAGS or tag == MML_MATH:
            parts.append(" " if tag == "disp-formula" else "")
            parts.append(formula_text(child))
            parts.append(" " if tag == "disp-formula" else "")
        elif tag in BLOCK_TAGS:
            parts.append(" ")
            _walk_clean(child, parts, skip)
            parts.append(" ")
        elif len(child):
            _walk_clean(child, parts, skip)
        elif child.text:  # a leaf such as <italic>word</italic>: no recursion needed
            parts.append(child.text)
        if child.tail:
            parts.append(child.tail)


# --- formulas -------------------------------------------------------------------------------

_TEX_DOC = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.DOTALL)
_TEX_PREAMBLE = re.compile(r"\\(?:documentclass|usepackage)(?:\[[^\]]*\])?\{[^}]*\}|\\setlength\{[^}]*\}\{[^}]*\}")


def formula_text(el: etree._Element) -> str:
    """Readable text of a formula: MathML flattened (x^2, a/b), else TeX source without preamble."""
    if el.tag == MML_MATH:
        math = el
    else:
        math = next(el.iter(MML_MATH, "math", "mml:math"), None)
    if math is not None:
        text = _mathml(math)
        if not text.isascii() and _INVISIBLE_OPERATORS.search(text):
            text = _drop_invisible_operators(text)
        return squash(text)
    tex = next(el.iter("tex-math"), None)
    if tex is not None:
        return tex_text("".join(tex.itertext()))
    return clean_text_walk(el, skip=QUIET_SKIP | {"label"})


# MathML's invisible operators: function application, invisible times, separator and plus
_INVISIBLE_OPERATORS = re.compile("[\u2061-\u2064]")
# function application between two words keeps them apart: "sin\u2061x" → "sin x"
_APPLIED_TO_WORD = re.compile("(?<=[^\\W\\d_])\u2061(?=\\w)")


def _drop_invisible_operators(text: str) -> str:
    return _INVISIBLE_OPERATORS.sub("", _APPLIED_TO_WORD.sub(" ", text))


def tex_text(source: str) -> str:
    """TeX source without the LaTeX document wrapper PMC puts around it."""
    body = _TEX_DOC.search(source)
    text = body.group(1) if body else _TEX_PREAMBLE.sub("", source)
    text = text.replace("$$", " ").replace("$", " ")
    return squash(text)


@lru_cache(maxsize=256)
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


# the layouts _mathml writes out; any other element is the concatenation of its parts
_MML_LAYOUTS = frozenset({"msup", "msub", "msubsup", "mfrac", "msqrt", "mroot", "mfenced"})


def _mathml(el: etree._Element) -> str:
    tag = el.tag
    if tag.__class__ is not str or tag in _MML_SKIP:
        return ""
    if not len(el):  # a token (<mi>x</mi>), most of any formula: no need for itertext
        text = el.text
        return text.strip() if text else ""
    children = [c for c in el if (t := c.tag).__class__ is str and t not in _MML_SKIP]
    if not children:
        return "".join(el.itertext()).strip()
    parts = [_mathml(c) for c in children]
    name = _local(tag)
    if name not in _MML_LAYOUTS:
        return "".join(parts)
    if name in ("msup", "msub") and len(parts) == 2:
        return f"{parts[0]}{'^' if name == 'msup' else '_'}{_group(parts[1])}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{_group(parts[1])}^{_group(parts[2])}"
    if name == "mfrac" and len(parts) == 2:
        return f"{_group(parts[0])}/{_group(parts[1])}"
    if name == "msqrt":
        return f"√{_group(''.join(parts))}"
    if name == "mroot" and len(parts) == 2:
        return f"root{_group(parts[1])}{_group(parts[0])}"
    if name == "mfenced":
        return _fenced(el, parts)
    return "".join(parts)


def _fenced(el: etree._Element, parts: list[str]) -> str:
    """`<mfenced>`: its parts between the open and close delimiters ("(" and ")" by default),
    separated by the separators (one character each, the last one repeated; "," by default)."""
    separators = "".join((el.get("separators") or ",").split()) if el.get("separators") != "" else ""
    inner = parts[0] if parts else ""
    for k, part in enumerate(parts[1:]):
        if separators:
            inner += separators[min(k, len(separators) - 1)]
        inner += part
    open_, close = el.get("open"), el.get("close")
    return f"{'(' if open_ is None else open_.strip()}{inner}{')' if close is None else close.strip()}"


def _group(text: str) -> str:
    return text if len(text) <= 1 or text.isalnum() else f"({text})"


# --- cited paragraphs -------------------------------------------------------------------------


@dataclass
class BlockText:
    """A paragraph flattened for sentence splitting.

    `xrefs` holds (start, end, rid) of each wanted `<xref>`; `breaks` the offsets where a nested
    block was cut out, or where a display formula is followed by a capitalised word (a sentence
    never runs across them); `citations` the (start, end) of each bibliographic `<xref>`
    (ref-type="bibr"), so that "end.<xref>33</xref><xref>35</xref> Next" ends a sentence.
    """

    text: str
    xrefs: list[tuple[int, int, str]] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)
    citations: list[tuple[int, int]] = field(default_factory=list)


def flatten_block(el: etree._Element, wanted: Collection[str]) -> BlockText:
    """Flatten one paragraph-like element, recording the span of each `<xref>` with a rid in
    `wanted` (the figure ids), the hard breaks left by nested blocks and by display formulas
    followed by a capitalised word ("Therefore,<disp-formula/>Since …"), and the spans of
    bibliographic xrefs glued to a full stop ("end.<xref>33</xref><xref>35</xref> However").

    The walk only appends raw strings and remembers where xrefs and breaks fall among them;
    whitespace is then collapsed once per stretch between marks, so the per-element cost stays
    at a list append; text that needs no collapsing (most) skips that step. (A serialise-and-strip
    path, and marks written into the tree for one `tostring(method="text")`, measured slower:
    cited paragraphs are short and hold many xrefs.)"""
    parts: list[str] = []
    marks: list[tuple[int, int, str]] = []  # (index in parts, mark kind, rid)
    _walk_block(el, parts, marks, wanted)
    joined = "".join(parts)
    if "  " not in joined and joined.isprintable():
        return _flatten_clean(joined, parts, marks)
    b = TextBuilder()
    xrefs: list[tuple[int, int, str]] = []
    opened: list[int] = []
    citations: list[tuple[int, int]] = []
    soft: list[int] = []
    done = 0
    for index, kind, rid in marks:
        if index > done:
            b.add("".join(parts[done:index]))
            done = index
        if kind == _OPEN or kind == _CITE_OPEN:
            opened.append(b.length)
        elif kind == _CLOSE:
            xrefs.append((opened.pop(), b.length, rid))
        elif kind == _CITE_CLOSE:
            citations.append((opened.pop(), b.length))
        elif kind == _SOFT:
            soft.append(b.length)
        else:
            b.hard_break()
    if done < len(parts):
        b.add("".join(parts[done:]))
    return _spans(b.text().rstrip(), xrefs, b.breaks, citations, soft)


def _flatten_clean(joined: str, parts: list[str], marks: list[tuple[int, int, str]]) -> BlockText:
    """`flatten_block` for text that needs no whitespace collapsing (printable, so its only
    whitespace is single spaces): a mark's offset is its raw offset, less the leading space that
    TextBuilder drops. (A nested block appends " " before its break, so no space is inserted.)"""
    lead = 1 if joined.startswith(" ") else 0
    xrefs: list[tuple[int, int, str]] = []
    opened: list[int] = []
    breaks: list[int] = []
    citations: list[tuple[int, int]] = []
    soft: list[int] = []
    done = offset = 0
    for index, kind, rid in marks:
        if index > done:
            offset += sum(map(len, parts[done:index]))
            done = index
        at = offset - lead if offset else 0
        if kind == _OPEN or kind == _CITE_OPEN:
            opened.append(at)
        elif kind == _CLOSE:
            xrefs.append((opened.pop(), at, rid))
        elif kind == _CITE_CLOSE:
            citations.append((opened.pop(), at))
        elif kind == _SOFT:
            soft.append(at)
        elif not breaks or breaks[-1] != at:
            breaks.append(at)
    text = joined[lead:].rstrip()
    return _spans(text, xrefs, breaks, citations, soft)


def _is_wanted(rid: str | None, wanted: Collection[str]) -> bool:
    if not rid:
        return False
    return rid in wanted or (" " in rid and any(r in wanted for r in rid.split()))


def _spans(
    text: str,
    xrefs: list[tuple[int, int, str]],
    breaks: list[int],
    citations: list[tuple[int, int]],
    soft: list[int],
) -> BlockText:
    # spans may include a space that the builder kept at an element's edge
    spans = [(*_trim(text, s, e), rid) for s, e, rid in sorted(xrefs)]
    n = len(text)
    if soft:  # after a display formula: a capitalised word starts a new sentence
        for at in soft:
            k = at
            while k < n and text[k] == " ":
                k += 1
            if k < n and text[k].isupper() and at not in breaks:
                breaks.append(at)
        breaks.sort()
    if citations:  # in document order; keep the non-empty ones
        citations = [(s, e) for s, e in citations if s < e <= n]
    return BlockText(text, spans, [x for x in breaks if x < n], citations)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    end = min(end, len(text))
    start = min(start, end)
    while start < end and text[start] == " ":
        start += 1
    while end > start and text[end - 1] == " ":
        end -= 1
    return start, end


_OPEN, _CLOSE, _BREAK, _CITE_OPEN, _CITE_CLOSE, _SOFT = range(6)
_INLINE, _XREF, _QUIET, _NESTED, _FORMULA, _DISP_FORMULA, _BLOCK, _ENTITY = range(8)
# what the paragraph walker does with each tag; absent = _INLINE, walked through
_KIND: dict[object, int] = {tag: _BLOCK for tag in BLOCK_TAGS}
_KIND.update({tag: _NESTED for tag in NESTED_BLOCKS})
_KIND.update({tag: _QUIET for tag in PARAGRAPH_QUIET_SKIP})
_KIND.update({"inline-formula": _FORMULA, MML_MATH: _FORMULA, "disp-formula": _DISP_FORMULA})
_KIND.update({"xref": _XREF, etree.Entity: _ENTITY, etree.Comment: _QUIET, etree.ProcessingInstruction: _QUIET})


_TERMINATORS = frozenset(".!?…")
_CLOSING = ")]}\"'”’»"
_CITATION_JOINERS = frozenset({"", ",", ";", "-", "–", "—"})
# the last character before an xref that may make it a glued citation (a cheap first test; after
# a space only when a citation xref came just before: "<xref>33</xref>, <xref>35</xref>")
_GLUE = _TERMINATORS | frozenset(_CLOSING) | frozenset("0123456789,;-–—")


def _glued_citation(parts: list[str], marks: list[tuple[int, int, str]]) -> bool:
    """Whether an xref starting now is glued to a full stop, maybe after closing brackets
    ("end.<xref>", "end.)<xref>"), or follows such a citation xref directly or after a comma or
    dash ("<xref>33</xref>,<xref>")."""
    last = parts[-1]
    c = last[-1:]
    if c in _TERMINATORS:
        return True
    if c in _CLOSING:
        return last.rstrip(_CLOSING)[-1:] in _TERMINATORS
    if not marks or marks[-1][1] != _CITE_CLOSE:
        return False
    index = marks[-1][0]
    return index == len(parts) or (index == len(parts) - 1 and last.strip() in _CITATION_JOINERS)


def _walk_block(
    el: etree._Element, parts: list[str], marks: list[tuple[int, int, str]], wanted: Collection[str]
) -> None:
    append = parts.append
    text = el.text
    if text:
        append(text)
    for child in el:
        kind = _KIND.get(child.tag, _INLINE)
        if kind == _XREF:
            rid = child.get("rid")
            # most xrefs cite references (rid="B12"): one set lookup rejects them
            if rid and (rid in wanted or (" " in rid and _is_wanted(rid, wanted))):
                marks.append((len(parts), _OPEN, rid))
                _walk_block(child, parts, marks, wanted)
                marks.append((len(parts), _CLOSE, rid))
            elif (
                parts
                and ((c := parts[-1][-1:]) in _GLUE or (c == " " and marks and marks[-1][1] == _CITE_CLOSE))
                and _glued_citation(parts, marks)
                and child.get("ref-type") == "bibr"
            ):
                # a citation right after a full stop ("end.<xref>33</xref><xref>35</xref> Next"):
                # its span tells the sentence splitter that it is no decimal and ends the sentence
                marks.append((len(parts), _CITE_OPEN, ""))
                if len(child):
                    _walk_block(child, parts, marks, wanted)
                elif child.text:
                    append(child.text)
                marks.append((len(parts), _CITE_CLOSE, ""))
            else:
                kind = _INLINE
        if kind == _INLINE:
            if len(child):  # inline styling
                _walk_block(child, parts, marks, wanted)
            else:  # most often a leaf such as <italic>word</italic>
                text = child.text
                if text:
                    append(text)
        elif kind == _NESTED:
            append(" ")
            marks.append((len(parts), _BREAK, ""))
        elif kind == _FORMULA:
            append(formula_text(child))
        elif kind == _DISP_FORMULA:
            append(f" {formula_text(child)} ")
            marks.append((len(parts), _SOFT, ""))
        elif kind == _BLOCK:
            append(" ")
            _walk_block(child, parts, marks, wanted)
            append(" ")
        elif kind == _ENTITY:
            append(entity_text(child))
        text = child.tail
        if text:
            append(text)
