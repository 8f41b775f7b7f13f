"""Find panel markers in a figure caption, and tell them apart from look-alikes.

A panel marker is the label a caption uses to address one panel (or several) of a compound figure:
"(A)", "A.", "a)", "[A]", "A:", "A,", a bare "a" (BMC style), a bold "A" (JATS ``<bold>``, HTML
``<b>``/``<strong>``), "Panel A", "In panel A,", a range "(A–C)", a list "(A, B)" / "A and B" /
"A1/A2" / "(B, B′)", roman numerals "(i)–(iii)", and, when a caption has no letters, positional
words ("Left:", "Top panel:", "(Bottom, Left)", "(upper panel)", "Inset:").

Each marker is classified by where it stands:

- ``open``: the label *opens* a clause — it stands at the start of the caption or right after a
  sentence, clause or list boundary (". (B) MRI…", "; b Gleason grade 3", "cancer.A. Photographs").
  The panel's words follow it.
- ``close``: the label *closes* a clause — a parenthesised label after a word ("…CT image (A) and
  MRI (B)"). The panel's words precede it.
- ``ref``: the label is mentioned, not announced ("boxed area in A", "quantified in <b>C</b>",
  "same case as (A)"). References never cut the caption; a referenced label that never gets words of
  its own inherits the clause that mentions it (see ``captions.subcaptions``).

Look-alikes that are never markers: figure and table cross-references ("Fig. 2A", "Figure 1 (B)",
"Figs. 2F–2H"), stereo descriptors and chemical prefixes ("(E)-", "(S)-ketamine"), gene and protein
names ("B cells", "(SMA)", "cyclin D1" — multi-letter groups never match a label), species
abbreviations ("E. coli"), plural suffixes ("cell(s)"), p-values, units and counts ("(n = 5)").

The candidates are then validated as a whole (``select_markers``): labels of one caption share one
case and one scheme (letters, roman numerals or positions), opening labels advance through the
alphabet without large jumps, bare letters ("a Gleason grade 2, b …") need a neighbour to confirm
them, and a caption needs at least two distinct panel labels to count as compound.

Pure functions over plain strings; rules only (no model, no network). The design follows the
marker taxonomy of rule-based caption splitters (e.g. the ImageCLEF compound-figure work and
``compound-figure-separator``'s caption splitting), extended with the closing-label and reference
conventions of the hand-split gold sets in ``/work/shared/fixtures/subcaptions``.
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass, field, replace

from lxml import etree

from harvester.jats.text import CAPTION_SKIP, FORMULA_TAGS, MML_MATH, formula_text

__all__ = [
    "Marker",
    "CaptionText",
    "caption_text",
    "expand_group",
    "find_candidates",
    "select_markers",
    "find_markers",
    "markers_or_positions",
    "POSITION_WORDS",
]

# --------------------------------------------------------------------------------------------
# Caption text: markup stripped, bold spans remembered
# --------------------------------------------------------------------------------------------

# an attribute may follow the tag name without its space ('<spanclass="math inline">', seen in
# converted manuscripts): "=" after the name still marks a tag
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w:.-]*?)((?:(?:\s|(?<=[a-z])(?=[a-z]+=))[^<>]*)?)(/?)>|<!--.*?-->|<\?.*?\?>", re.S)
# plain text is read as markup only when it has a closing or self-closing tag ("p<b and c>d" is not)
_LOOKS_LIKE_MARKUP = re.compile(r"</[A-Za-z][\w:.-]*\s*>|<[A-Za-z][\w:.-]*(?:\s[^<>]*)?/>")
_BOLD_TAGS = frozenset({"bold", "b", "strong"})
# Block-level tags end a sentence-like unit: their boundary acts like a line break.
_BLOCK_TAGS = frozenset(
    {"p", "title", "br", "div", "li", "list-item", "sec", "caption", "label", "tr", "td", "table"}
)
_PARA_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")


@dataclass(frozen=True, slots=True)
class CaptionText:
    """A caption as plain text, with the character spans that were bold in its markup."""

    text: str
    bold_spans: tuple[tuple[int, int], ...] = ()


def _collapse(text: str) -> str:
    """Runs of whitespace → one space; line breaks (paragraph boundaries) are kept, one each."""
    if "\n" not in text:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


_TRAILING_DOI_RE = re.compile(r"\s*\b(?:DOI|doi)\s*:?\s*(?:https?://\S+|10\.\d{4,}/\S+)\s*$")


def caption_text(caption: str, caption_xml: str | None = None) -> CaptionText:
    """Plain text of a caption (see ``_caption_text``), without a trailing "DOI: …" link (eLife)."""
    ct = _caption_text(caption, caption_xml)
    m = _TRAILING_DOI_RE.search(ct.text) if "oi" in ct.text[-120:] else None
    if m is None:
        return ct
    cut = m.start()
    return CaptionText(ct.text[:cut], tuple((a, min(b, cut)) for a, b in ct.bold_spans if a < cut))


def _caption_text(caption: str, caption_xml: str | None = None) -> CaptionText:
    """Plain text of a caption; with markup (``caption_xml``, or tags inside ``caption``) the bold
    spans are kept so bold panel labels can be recognised.

    Paragraph-like tags (``<p>``, ``<title>``, ``<br>``…) become line breaks, which count as
    clause boundaries. Entities are unescaped. Never raises on malformed markup: unknown or broken
    tags are simply dropped.
    """
    markup = _jats_markup(caption_xml) if caption_xml else None
    if markup is None and caption and "<" in caption and _LOOKS_LIKE_MARKUP.search(caption):
        markup = caption
    if markup is None:
        # a single line break is layout; a blank line separates paragraphs
        plain = html.unescape(caption or "")
        plain = _PARA_RE.sub("\x00", plain).replace("\n", " ").replace("\x00", "\n")
        return CaptionText(_collapse(plain))
    markup = markup.replace("\r", " ").replace("\n", " ")

    out: list[str] = []
    length = 0
    bold_depth = 0
    bold_start = 0
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _TAG_RE.finditer(markup):
        if m.start() > pos:
            chunk = html.unescape(markup[pos : m.start()])
            out.append(chunk)
            length += len(chunk)
        pos = m.end()
        name = (m.group(2) or "").lower()
        if not name:
            continue  # comment or processing instruction
        closing = m.group(1) == "/"
        selfclosing = m.group(4) == "/"
        if name in _BOLD_TAGS and not selfclosing:
            if not closing:
                if bold_depth == 0:
                    bold_start = length
                bold_depth += 1
            elif bold_depth:
                bold_depth -= 1
                if bold_depth == 0 and length > bold_start:
                    spans.append((bold_start, length))
        elif name in _BLOCK_TAGS:
            out.append("\n")
            length += 1
    if pos < len(markup):
        chunk = html.unescape(markup[pos:])
        out.append(chunk)
        length += len(chunk)
    raw = "".join(out)
    if not spans:
        return CaptionText(_collapse(raw))
    return _collapse_with_spans(raw, spans)


_JATS_SKIP_HINTS = ("supplementary-material", "object-id", "<mml:math", "<math", "formula", "tex-math", "alt-text", "long-desc",
                    "<media", "graphic")  # tags only: every eLife caption declares the MathML namespace
_STRICT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _jats_markup(xml: str) -> str:
    """A JATS caption as the harvester reads it, still as markup (for its bold labels): embedded
    supplementary files, DOIs and alt texts left out (eLife puts "Figure 1—source data 1. …" and
    the figure's DOI inside `<caption>`), formulas rendered as the harvester renders them
    ("Γ_D=Γ1/(β^(1/6)E^(∗1/2))", not the concatenated MathML tokens or the TeX source). Markup that
    is not well-formed XML (converted HTML: "&nbsp;", unclosed tags) is returned unchanged."""
    if not any(hint in xml for hint in _JATS_SKIP_HINTS):
        return xml
    try:
        root = etree.fromstring(xml.encode("utf-8"), _STRICT_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return xml
    for el in list(root.iter(*CAPTION_SKIP)):
        _replace_with_text(el, "")
    # outermost formulas only: a formula's own MathML goes with it
    for el in list(root.iter(*FORMULA_TAGS, MML_MATH, "tex-math")):
        if _attached(el, root):
            pad = " " if el.tag == "disp-formula" else ""
            _replace_with_text(el, f"{pad}{formula_text(el)}{pad}")
    return etree.tostring(root, encoding="unicode")


def _attached(el: etree._Element, root: etree._Element) -> bool:
    while el is not None and el is not root:
        el = el.getparent()
    return el is root


def _replace_with_text(el: etree._Element, text: str) -> None:
    """Remove `el` from the tree, its place taken by `text` (and its tail kept)."""
    parent = el.getparent()
    if parent is None:
        return
    joined = text + (el.tail or "")
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + joined
    else:
        parent.text = (parent.text or "") + joined
    parent.remove(el)


def _collapse_with_spans(raw: str, spans: list[tuple[int, int]]) -> CaptionText:
    """Whitespace-collapse ``raw`` and carry the bold spans over to the collapsed text."""
    # new_index[i] = index in the collapsed text of raw[i] (or of the next kept char)
    kept: list[str] = []
    new_index = [0] * (len(raw) + 1)
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch.isspace():
            j = i
            has_nl = False
            while j < n and raw[j].isspace():
                has_nl = has_nl or raw[j] == "\n"
                j += 1
            for k in range(i, j):
                new_index[k] = len(kept)
            if kept and j < n:  # no leading / trailing whitespace
                kept.append("\n" if has_nl else " ")
            i = j
            continue
        new_index[i] = len(kept)
        kept.append(ch)
        i += 1
    new_index[n] = len(kept)
    text = "".join(kept)
    out_spans = []
    for s, e in spans:
        ns, ne = new_index[min(s, n)], new_index[min(e, n)]
        # trim whitespace inside the span
        while ns < ne and text[ns].isspace():
            ns += 1
        while ne > ns and text[ne - 1].isspace():
            ne -= 1
        if ne > ns:
            out_spans.append((ns, ne))
    return CaptionText(text, tuple(out_spans))


# --------------------------------------------------------------------------------------------
# Label groups: "A", "A1", "ii", "A–C", "A, B", "A and B", "A1/A2", "B-C, E"
# --------------------------------------------------------------------------------------------

_ROMAN_VALUES = {
    "i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10,
    "xi": 11, "xii": 12,
}
_ROMAN_BY_VALUE = {v: k for k, v in _ROMAN_VALUES.items()}

_LABEL = r"(?:[ivx]{2,4}|[IVX]{2,4}|[A-Za-z]\d{0,2}(?:[′’']{1,3}|[″‴])?)"  # "B′", "B′′" are panels beside "B"
_DASH = r"\s*[-–—‐‑‒−]\s*"
_ITEM = rf"{_LABEL}(?:{_DASH}{_LABEL})?"
_SEP = r"\s*(?:,\s*and\b|,\s*or\b|,|;|/|&|\+|\band\b|\bor\b)\s*"
_GROUP = rf"{_ITEM}(?:{_SEP}{_ITEM})*"
# outside brackets ";" ends a clause ("…in E; G. ABCG2 IHC"), it does not join labels
_SEP_NB = r"\s*(?:,\s*and\b|,|/|&|\+|\band\b)\s*"
_GROUP_NB = rf"{_ITEM}(?:{_SEP_NB}{_ITEM})*"

_SEP_RE = re.compile(_SEP)
_ITEM_FULL_RE = re.compile(rf"\s*({_LABEL})(?:{_DASH}({_LABEL}))?\s*")


def _label_key(label: str) -> tuple[str, int, int] | None:
    """(scheme, index, sub) of a label: ("upper", 0, 0) for "A", ("lower", 1, 2) for "b2",
    ("roman", 3, 0) for "iii". None when it is not a label."""
    low = label.lower()
    if len(label) >= 2 and label.isalpha():
        if low in _ROMAN_VALUES and (label.islower() or label.isupper()):
            return ("roman" if label.islower() else "ROMAN", _ROMAN_VALUES[low] - 1, 0)
        return None
    ch = label[0]
    rest = label[1:]
    sub = 0
    primes = len(rest) - len(rest.rstrip(_PRIME_MARKS))
    if primes:  # after every numbered sub-panel of the letter: B′ 97, B′′ 98, B′′′ 99
        sub, rest = _PRIME_SUB - 1 + min(_prime_count(rest[len(rest) - primes :]), 3), rest[: len(rest) - primes]
    if rest:
        sub = int(rest) if sub == 0 else sub
    return ("upper" if ch.isupper() else "lower", ord(ch.lower()) - 97, sub)


def expand_group(group: str) -> list[str]:
    """Labels named by a group: "A–C" → A, B, C; "A, B and D" → A, B, D; "A1/A2" → A1, A2;
    "i–iii" → i, ii, iii. Empty when the group is not well formed (mixed schemes, a backward or
    over-long range)."""
    labels: list[str] = []
    for item in _SEP_RE.split(group):
        m = _ITEM_FULL_RE.fullmatch(item)
        if m is None:
            return []
        a, b = m.group(1), m.group(2)
        if b is None:
            labels.append(_norm_prime(a))
            continue
        pa, pb = _prime_count(a[len(a.rstrip(_PRIME_MARKS)) :]), _prime_count(b[len(b.rstrip(_PRIME_MARKS)) :])
        a, b = a.rstrip(_PRIME_MARKS), b.rstrip(_PRIME_MARKS)
        if pb and a == b:  # "A–A′′": A, A′, A′′
            labels.extend(a + "′" * q for q in range(pa, pb + 1))
            continue
        if pb:  # "B–C′": B, B′, C, C′
            rng = expand_group(f"{a}-{b}")
            if not rng:
                return []
            labels.extend(lab + "′" * q for lab in rng for q in range(pb + 1))
            continue
        ka, kb = _label_key(a), _label_key(b)
        if ka is None or kb is None:
            return []
        # "i–v" and "I-V" ranges may be parsed as letters; prefer roman when both ends are roman
        if (ka[0] in ("lower", "upper")) and a.lower() in _ROMAN_VALUES and b.lower() in _ROMAN_VALUES:
            if not (ka[0] == "lower" and ka[1] + 1 <= kb[1] and kb[1] - ka[1] <= 3 and a.lower() not in "iv"):
                ka = ("roman" if a.islower() else "ROMAN", _ROMAN_VALUES[a.lower()] - 1, 0)
                kb = ("roman" if b.islower() else "ROMAN", _ROMAN_VALUES[b.lower()] - 1, 0)
        if ka[0] != kb[0]:
            return []
        if ka[2] or kb[2]:  # A1–A3
            if a[0] != b[0] or kb[2] <= ka[2] or kb[2] - ka[2] > 12:
                return []
            labels.extend(f"{a[0]}{k}" for k in range(ka[2], kb[2] + 1))
            continue
        if kb[1] <= ka[1] or kb[1] - ka[1] > 15:
            return []
        if ka[0] in ("roman", "ROMAN"):
            for v in range(ka[1] + 1, kb[1] + 2):
                r = _ROMAN_BY_VALUE.get(v)
                if r is None:
                    return []
                labels.append(r if ka[0] == "roman" else r.upper())
        else:
            base = 65 if ka[0] == "upper" else 97
            labels.extend(chr(base + k) for k in range(ka[1], kb[1] + 1))
    if len(set(labels)) != len(labels):
        return []  # "(W/W)", "(+/+)"-like genotypes repeat a letter; panel lists do not
    return labels


_PRIME_MARKS = "′’'″‴"
_PRIME_SUB = 97  # sub-number of a single prime (keys: letter * 100 + sub)


def _prime_count(marks: str) -> int:
    return sum(3 if c == "‴" else 2 if c == "″" else 1 for c in marks)


def _norm_prime(label: str) -> str:
    """"B'", "B’", "B″" → "B′", "B′′": primes written as U+2032, one per prime."""
    base = label.rstrip(_PRIME_MARKS)
    return base + "′" * _prime_count(label[len(base) :]) if len(base) < len(label) else label


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------

OPEN, CLOSE, REF = "open", "close", "ref"
# form strength: bold and bracketed labels are unambiguous, "A." / "A)" need a boundary, bare
# letters need a neighbour.
STRONG, MEDIUM, WEAK = 3, 2, 1


@dataclass(slots=True)
class Marker:
    """A panel marker found in a caption: ``text[start:end]`` is the marker itself.

    ``keys`` orders labels within their scheme: letter index * 100 + sub-number ("B2" → 102,
    "B′" → 197, "B′′" → 198).
    ``inline`` marks an opening label in mid-sentence ("…either (A) IHC or (B) FISH").
    ``prep`` marks a label right after a preposition ("shown in (d).").
    ``subject`` marks a closing label followed by its verb ("the CT scan (A) shows a nodule, and
    the PET image (B) shows uptake"): the rest of its clause belongs to it too.
    """

    start: int
    end: int
    labels: tuple[str, ...]
    kind: str  # "open" | "close" | "ref"
    form: str  # "paren" | "half_paren" | "punct" | "bare" | "bold" | "position"
    strength: int = MEDIUM
    scheme: str = ""  # "upper" | "lower" | "roman" | "ROMAN" | "position"
    keys: tuple[int, ...] = field(default_factory=tuple)
    inline: bool = False
    prep: bool = False
    subject: bool = False  # "the CT scan (A) shows a nodule, …": the label sits on the subject
    lead: int = -1  # where the panel's words begin when they start before the marker

    @property
    def letters(self) -> tuple[int, ...]:
        return tuple(k // 100 for k in self.keys)


_PAREN_RE = re.compile(
    rf"[\(\[]\s*(?:(?:[Pp]anels?|[Ii]mages?|[Pp]hotos?|[Pp]hotographs?)\s+)?({_GROUP})\.?\s*"  # "(a.)" too
    rf"(?:[,;]\s*([^()\[\]]{{1,40}}?)\s*)?[\)\]]"
)
# a label list closing a parenthetical: "(anti-CD34, E–H)", "(PSA; image C)"
_PAREN_TAIL_RE = re.compile(
    rf"[\(\[][^()\[\]]{{1,50}}?[,;]\s*(?:(?:[Pp]anels?|[Ii]mages?)\s+)?({_GROUP})\s*[\)\]]"
)
_PANEL_WORD_RE = re.compile(r"(?<![\w])[Pp]anels?\s+(" + _GROUP + r")(?![\w])")
_QUANT_IN_RE = re.compile(
    r"\b(?:quantified|shown|summarized|quantification|magnified|enlarged)\s+in\s+([A-Za-z])(?![\w(])"
)

# What may stand right before a reference rather than a marker: "Fig. 2(A)", "Figure 1 (B)",
# "Table 1, A", "Figs. 2F–2H", "Supplementary Fig. S1 (C)".
_XREF_BEFORE_RE = re.compile(
    r"(?:\b(?:(?:[Ss]uppl(?:ementa(?:ry|l))?\.?|[Ss]upporting|[Ee]xtended\s+[Dd]ata|[Ee]xpanded\s+[Vv]iew)\s+)?"
    r"(?:[Ff]ig(?:ure)?s?|FIG(?:URE)?S?|[Tt]ables?|[Mm]ovies?|[Vv]ideos?|[Aa]ppendix|EV)\.?\s*"
    r"(?:[SsEe]?\d+[A-Za-z]?(?:\s*(?:[-–,]|and)\s*[SsEe]?\d+[A-Za-z]?)*)?\s*[\(\[]?\s*$)"
)
# A bracketed label after these words is a mention of another panel, not a cut.
_REF_WORD_BEFORE_RE = re.compile(
    r"\b(?:as|see|from|than|vs|versus|like|cf|e\.g|i\.e|unlike|except|including|to|"
    r"(?:scale|calibration|error)\s+bars?)\.?\s*$", re.I
)
_PREP_BEFORE_RE = re.compile(
    r"\b(?:in|of|with|by|for|on|at|into|between|within|under|over|inside|throughout|across|"
    r"among|also|panels?)\s*$",
    re.I,
)
_FOLLOW_PUNCT_RE = re.compile(r"\s*(?:[.;:,!?)\]]|$)")
_FOLLOW_CONJ_RE = re.compile(
    r"\s*(?:and|or|whereas|while|but|respectively|versus|vs\.?|nor|as well as|compared|together)\b", re.I
)
# Single letters that are words, units or gene-name parts when bare.
_BARE_NEXT_WORD_STOP = re.compile(
    r"(?:cells?|lymphocytes?|vitamins?|type|chain|subunit|isoform|domain|allele|strain|"
    r"coli|aureus|elegans|melanogaster|cerevisiae|thaliana|tuberculosis|aeruginosa|pneumoniae|"
    r"and|or|of|the|to|is|was|were|are)\b|[=+]",
)


_HEADING_BEFORE_RE = re.compile(r"\b[Dd]ata\s+[Ii]nformation$")
_ABBREV_BEFORE_RE = re.compile(r"(?:^|[^\w.])[a-z]\.\s?$")  # "i.e.", "e.g.", "a.m."


def _in_abbreviation(text: str, s: int, e: int) -> bool:
    """"e" of "i.e.", "E" of "S.E.M.": a letter inside a dotted abbreviation."""
    if _ABBREV_BEFORE_RE.search(text, max(0, s - 4), s):
        return True
    return bool(re.search(r"(?:^|[^\w.])[A-Za-z]\.$", text[max(0, s - 3) : s]) and text[e : e + 1].isalpha())


def _boundary(text: str, pos: int) -> str:
    """How the text before ``pos`` ends: "start", "sentence" (. ; : ! ? line break),
    "comma", "glued" (a word character right before, no space), "word", "paren" (a closing
    bracket) or "open_bracket"."""
    j = pos - 1
    spaced = False
    while j >= 0 and text[j] == " ":
        j -= 1
        spaced = True
    if j < 0:
        return "start"
    c = text[j]
    if c == "n" and _HEADING_BEFORE_RE.search(text, max(0, j - 20), j + 1):
        return "sentence"  # "Data information (C) Mean is shown"
    if c in ".;:!?\n|•·":
        if c == "." and j > 0 and re.search(
            r"(?:\b(?:e\.g|i\.e|cf|vs|approx|ca|resp|et al|[Ff]igs?|[Rr]ef|[Nn]o|[Ee]q|[Ss]ect?)\.)$",
            text[max(0, j - 10) : j + 1],
        ):
            return "word"
        return "sentence"
    if c == ",":
        return "comma"
    if c in ")]":
        if j > 0 and text[j - 1] in ".!?":
            return "sentence"  # "…(Representative cells indicated by arrows.) (C). Addition of…"
        return "paren" if spaced else "glued"
    if c in "([{":
        return "open_bracket"
    if c.isalnum() or c in "'’\"”%*°":
        return "word" if spaced else "glued"
    return "word"


def _scheme_keys(labels: list[str]) -> tuple[str, tuple[int, ...]] | None:
    keys = [_label_key(lab) for lab in labels]
    if not keys or any(k is None for k in keys):
        return None
    schemes = {k[0] for k in keys}  # type: ignore[index]
    for letter, roman in (("lower", "roman"), ("upper", "ROMAN")):
        if schemes == {letter, roman} and all(lab.lower() in _ROMAN_VALUES for lab in labels):
            # "i" beside "ii", "iii" is a numeral too
            keys = [(roman, _ROMAN_VALUES[lab.lower()] - 1, 0) for lab in labels]
            schemes = {roman}
    if len(schemes) != 1:
        return None
    return schemes.pop(), tuple(k[1] * 100 + k[2] for k in keys)  # type: ignore[index]


_STAIN_RE = re.compile(r"H\s*(?:&|and)\s*E")  # "(H & E)" is a stain, not panels H and E


def _make(start: int, end: int, group: str, kind: str, form: str, strength: int, **kw) -> Marker | None:
    if _STAIN_RE.fullmatch(group.strip()):
        return None
    labels = expand_group(group)
    if not labels or len(labels) > 26:
        return None
    sk = _scheme_keys(labels)
    if sk is None:
        return None
    return Marker(start, end, tuple(labels), kind, form, strength, sk[0], sk[1], **kw)


_FOLLOWING_PAREN_RE = re.compile(r"\s*[\(\[][^()\[\]]{0,40}[\)\]]")


def _inside_brackets(text: str, pos: int, window: int = 60) -> bool:
    """Whether ``pos`` lies inside an unclosed "(" / "[" opened shortly before it."""
    seg = text[max(0, pos - window) : pos]
    depth = 0
    for ch in reversed(seg):
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                return True
            depth -= 1
    return False


_SUBJECT_VERB_RE = re.compile(
    r"\s*(?:(?:also|clearly|still|then|further)\s+)?(?:shows?|showed|shown|indicates?|indicated|demonstrates?|demonstrated|"
    r"reveals?|revealed|displays?|displayed|exhibits?|exhibited|depicts?|depicted|illustrates?|"
    r"illustrated|represents?|represented|contains?|contained|confirms?|confirmed|highlights?|"
    r"is|are|was|were|has|have|had)\b"
)


def _subject_label(text: str, e: int) -> bool:
    return bool(_SUBJECT_VERB_RE.match(text, e))


_IN_OPENER_RE = re.compile(r"\bIn\s+(?:(?:the\s+)?(?:[Pp]anels?|[Ii]mages?|[Pp]hotographs?|[Mm]icrographs?|[Gg]raphs?)\s+)?$")
_CLAUSE_START_RE = re.compile(r"[.;:!?\n]\s*")


def _clause_start(text: str, pos: int) -> int:
    """Start of the clause that contains ``pos`` (after the last . ; : ! ? or line break)."""
    last = 0
    for m in _CLAUSE_START_RE.finditer(text, max(0, pos - 200), pos):
        last = m.end()
    return last if last else max(0, pos - 200) if pos > 200 else 0


# a label that names what follows it: a noun phrase, not a function word ("in (A) for the controls")
_NOUN_AFTER_RE = re.compile(
    r"\s*(?!(?:and|or|but|for|in|at|with|to|of|from|by|on|into|is|are|was|were|be|been|has|have|had|"
    r"shows?|showed|shown|as|the|a|an|than|versus|vs|which|that|where|when|while|respectively|"
    r"panels?|also|only|both|during|after|before|under|over|between|within|without|upon|through|"
    r"across|against|among|using|via|following|compared|relative|except|until|since|per|each|all)\b)[a-z][\w/-]*"
)


_PHRASE_BREAK_RE = re.compile(r"[.;:!?]\s+|,\s*(?:and\s+|or\s+)?|\s(?:and|or)\s+")


def _phrase_start(text: str, s: int, cands: list[Marker]) -> int:
    """Where the phrase that ends at ``s`` begins, when a label earlier in the same sentence owns the
    words before it; -1 for the sentence's first label."""
    start = _clause_start(text, s)
    if not any(c.start < s for c in cands):
        return -1  # the caption's first label: the words before it are the shared title
    prev = [c.end for c in cands if start <= c.start < s]
    if not prev:
        return start if start < s and re.search(r"\w", text[start:s]) else -1
    floor = max(prev)
    last = -1
    for m in _PHRASE_BREAK_RE.finditer(text, floor, s):
        last = m.end()
    return last if last > floor else -1


def _parallel_item(text: str, s: int, e: int) -> bool:
    """"…seasons in (a) 2017 and (b) 2018": the next letter, bracketed alike, opens a parallel item
    later in the same sentence, so this label opens one too (it is no mention of a panel)."""
    inner = text[s + 1 : e - 1].strip()
    if len(inner) != 1 or not inner.isalpha() or inner in "zZ":
        return False
    end = _SENTENCE_END_BEFORE_RE.search(text, e)
    nxt = re.escape(text[s]) + chr(ord(inner) + 1) + re.escape(text[e - 1])
    return bool(re.search(rf"(?:,|\band\b|\bor\b)\s*{nxt}\s*[\w(]", text[e : end.start() if end else len(text)]))


def _classify_mid_sentence(text: str, s: int, e: int) -> tuple[str, bool, bool]:
    """(kind, inline, prep) of a bracketed label that follows a word."""
    before = text[max(0, s - 25) : s]
    fp = _FOLLOWING_PAREN_RE.match(text, e)  # "…glands (v) (black arrows), with…"
    after = text[fp.end() if fp else e : e + 60]
    if _REF_WORD_BEFORE_RE.search(before):
        return REF, False, False
    prep = bool(_PREP_BEFORE_RE.search(before))
    if _FOLLOW_PUNCT_RE.match(after) or _FOLLOW_CONJ_RE.match(after):
        return CLOSE, False, prep
    if re.match(r"\s*[A-Z][a-z]", after):
        return OPEN, True, False  # a missing full stop: "…(B) Liver (C) Lung", "…and (E) Pancreatic cells"
    if prep:
        if _NOUN_AFTER_RE.match(after) or _parallel_item(text, s, e):
            return OPEN, True, True  # "…as evidenced by (A) colonoscopy and (B) plain radiograph"
        return REF, False, True  # "the case depicted in (E) and (F) has…"
    if _SUBJECT_VERB_RE.match(after):
        return CLOSE, False, False  # "the CT scan (A) shows…" (see Marker.subject)
    return OPEN, True, False  # "…either (A) IHC or (B) FISH", "…microns (b) High power view"


_LABEL_START_RE = re.compile(r"\b(?:[A-Za-z]\d{0,2}|[ivx]{2,4}|[IVX]{2,4})\b|(?<=[a-z])[A-Z]\)(?=\s[A-Z])")
_HALF_PAREN_AT = re.compile(rf"({_GROUP_NB})\)")
_PUNCT_AT = re.compile(rf"({_GROUP_NB})\s*([.:,|])")
_BARE_AT = re.compile(r"([A-Za-z]\d{0,2})\s+(?=[^\s,.;:)\]])")
_PANEL_PREFIX_RE = re.compile(r"[Pp]anels?\s+$")
_GLUED_FIRST_RE = re.compile(r"\s*([Aa])(?=[A-Z][A-Za-z]*[a-z-])")  # "AWestern", "AER-associated"


def _half_paren(text: str, s: int, m: re.Match, xref_before) -> Marker | None:
    e = m.end()
    b = _boundary(text, s)
    inline = False
    if b == "word" and re.search(r"\b(?:and|or)\s*$", text[max(0, s - 6) : s]):
        b = "comma"  # "E) melanoma and F) colorectal cancer"
    if b == "glued" and text[s - 1] not in ".)":
        # "…tumor tissuesA) Evaluation" (a title run into the label) — only as part of a run
        if not (text[s - 1].islower() and re.match(r" [A-Z]", text[e : e + 2])):
            return None
        inline = True
    elif b == "word":
        if len(m.group(1)) != 1 or not re.match(r" [\w(]", text[e : e + 2]):
            return None
        inline = True  # "…progesterone receptor f) in more than 40% of cells"
    elif b not in ("start", "sentence", "comma", "glued", "paren"):
        return None
    if xref_before(s) or _inside_brackets(text, s):
        return None  # "(H & E)" is not "E)"
    return _make(s, e, m.group(1), OPEN, "half_paren", MEDIUM, inline=inline)


def _punct_label(text: str, s: int, m: re.Match, xref_before) -> Marker | None:
    e = m.end()
    b = _boundary(text, s)
    punct = m.group(2)
    if b == "paren" and punct in ":|":
        b = "comma"  # "A: Brain cortex (neurons) B: Colon mucosa"
    if b not in ("start", "sentence", "comma", "glued"):
        return None
    if b == "glued" and text[s - 1] not in ".;:)":
        return None
    if xref_before(s) or _in_abbreviation(text, s, e) or _inside_brackets(text, s):
        return None
    rest = text[e : e + 30]
    if not rest.strip():
        return None  # nothing follows
    group = m.group(1)
    if punct == ".":
        # "E. coli", "A. thaliana" (species); "A." must be followed by a capital, digit, bracket
        if re.match(r"\s*[a-z]{2,}\b", rest) or re.match(r"\d", rest):
            return None  # … and "A.5" is a number
    mk = _make(s, e, group, OPEN, "punct", MEDIUM)
    if mk and punct == "," and ((group in ("a", "i") and b != "start") or b == "comma"):
        mk.strength = WEAK  # "…; a, …" is rarely a label, "…, B, …" may be a list
    return mk


_RUN_IN_NEXT_RE = re.compile(r" [A-Z][a-z]")
_LIST_AND_BEFORE_RE = re.compile(r"(?:[,;)]\s*|\s)(?:and|or)\s+$")
_SENTENCE_END_BEFORE_RE = re.compile(r"[.!?;:](?:\s|$)|\n")


def _title_run_in(text: str, s: int, label: str) -> bool:
    """A first label run into a title without a full stop (Springer/BMC: "…RNA-seq dataset a In the
    presence of…", "Pathway analysis A Class-specific…"): "a"/"A" in the caption's first sentence,
    after at least three words, before a capitalised word. Weak: kept only when "b" follows as a bare
    label too (``_article_is_label``)."""
    return (
        label in ("a", "A")
        and bool(_RUN_IN_NEXT_RE.match(text, s + 1))
        and len(text[:s].split()) >= 3
        and not _SENTENCE_END_BEFORE_RE.search(text, 0, s)
    )


def _bare_label(text: str, s: int, pos: int, m: re.Match, xref_before) -> Marker | None:
    e = m.end()
    b = _boundary(text, s)
    if b == "word" and _title_run_in(text, s, m.group(1)):
        b = "sentence"
    elif b == "word" and _LIST_AND_BEFORE_RE.search(text, max(0, s - 8), s):
        b = "comma"  # "…the lens (c), and d enlarged view of the capsule": a label closing a list
    if b not in ("start", "sentence", "comma", "glued"):
        return None
    if b == "glued" and text[s - 1] not in ".;:)":
        return None
    if xref_before(s) or _in_abbreviation(text, pos, m.end(1)) or (text[s] != "(" and _inside_brackets(text, s)):
        return None
    if _BARE_NEXT_WORD_STOP.match(text, e):
        return None
    return _make(s, e, m.group(1), OPEN, "bare", WEAK)


def find_candidates(ct: CaptionText) -> list[Marker]:
    """Every place that looks like a panel label, classified open / close / ref, before the
    caption-level validation. Overlapping candidates are resolved in favour of the stronger
    form (bold > bracket > "A)"/"A." > bare)."""
    text = ct.text
    cands: list[Marker] = []

    def xref_before(pos: int) -> bool:
        return bool(_XREF_BEFORE_RE.search(text, max(0, pos - 40), pos))

    # 1. bold labels (from markup)
    for s, e in ct.bold_spans:
        inner = text[s:e]
        m = re.fullmatch(rf"\s*[\(\[]?\s*(?:[Pp]anels?\s+)?({_GROUP})\s*[\)\]]?\s*[.:,;|]?\s*", inner)
        if not m or xref_before(s):
            continue
        b = _boundary(text, s)
        end = e
        # a bold label directly followed by its punctuation: "<b>A</b>, …" / "<b>A</b>. …"
        tail = re.match(r"\s*[.:,|)]", text[e : e + 3])
        if tail and not re.search(r"[.:,|)]\s*$", inner):
            end = e + tail.end()
        kind = OPEN if b in ("start", "sentence", "comma", "glued", "open_bracket") else REF
        mk = _make(s, end, m.group(1), kind, "bold", STRONG)
        if mk:
            cands.append(mk)

    # 2. bracketed labels "(A)", "[A]", "(A–C)", "(A, B)", "(C, 200×)"
    for m in _PAREN_RE.finditer(text):
        s, e = m.start(), m.end()
        nxt = text[e : e + 1]
        if nxt and (nxt in "-‐‑–'’′" or nxt.isdigit()):
            continue  # (E)-isomer, (S)-ketamine, (A)2
        if xref_before(s):
            continue
        extra = m.group(2)
        if extra is not None and re.match(r"\s*(?:[A-Za-z]\d?\s*(?:[,;)]|$)|and\b|or\b)", extra):
            continue  # a longer label list, e.g. "(A, B, C)" is matched by the group itself
        b = _boundary(text, s)
        inline = prep = False
        if b == "glued":
            # "cell(s) were" is a plural; "tumorigenesis(a) H&E" is a title run into a label
            if re.match(r"\s?[A-Z(\[]", text[e : e + 2]) and text[s - 1] not in ")]":
                kind = OPEN
            elif text[s - 1].isalnum() and re.search(r"[-–—,]", m.group(1)) and len(expand_group(m.group(1))) > 1:
                # a range or list glued to its word by a lost space ("…with PS341(L-N).") is read
                # as if the space were there; single letters stay plurals and suffixes
                kind, inline, prep = _classify_mid_sentence(text, s, e)
            else:
                continue
        elif b in ("start", "sentence", "comma", "open_bracket"):
            kind = OPEN
        else:
            kind, inline, prep = _classify_mid_sentence(text, s, e)
        lead = -1
        if kind == OPEN and prep and re.fullmatch(r"[ivxIVX]+(?:\s*[-–,]\s*[ivxIVX]+)*", m.group(1).strip()):
            kind, inline = REF, False  # "simulations with (i) spiral and (ii) whorled conditions"
        elif kind == OPEN and inline and _PREP_BEFORE_RE.search(text[max(0, s - 25) : s]):
            # a label naming the noun after a preposition ("…, and HAADF-STEM images of (g) …")
            # takes the words of its phrase when an earlier label owns the words before them
            lead = _phrase_start(text, s, cands)
        if b in ("word", "paren"):
            opener = _IN_OPENER_RE.search(text, max(0, s - 16), s)
            if opener and _boundary(text, opener.start()) in ("start", "sentence"):
                s, kind, inline, prep = opener.start(), OPEN, False, False  # "In (B), the same cells…"
            elif kind == CLOSE and extra is None and text[e : e + 1] == ":":
                # "Lower left (A): phylogenetic tree…" — a label that introduces its clause
                ls = _clause_start(text, s)
                if len(text[ls:s].split()) <= 4:
                    kind, lead = OPEN, ls
        if extra is not None and kind == OPEN and b not in ("start", "sentence"):
            kind = REF  # "(C, 200×) shows" mid-sentence: a mention
        if kind == CLOSE and b in ("word", "paren") and _inside_brackets(text, s):
            kind = REF  # "…response to low (G = 0.1 in (C)) and…": a mention inside a parenthesis
        mk = _make(s, e, m.group(1), kind, "paren", STRONG, inline=inline, prep=prep)
        if mk:
            mk.subject = kind == CLOSE and _subject_label(text, e)
            mk.lead = lead
            if lead >= 0 and text[e : e + 1] == ":":
                mk.end = e + 1
            cands.append(mk)

    # 2b. a label list closing a parenthetical: the clause around it is about those panels
    for m in _PAREN_TAIL_RE.finditer(text):
        s, e = m.start(), m.end()
        if xref_before(m.start(1)) or _boundary(text, s) not in ("word", "paren"):
            continue
        kind = REF if _REF_WORD_BEFORE_RE.search(text[max(0, s - 25) : s]) else CLOSE
        mk = _make(s, e, m.group(1), kind, "paren", STRONG)
        if mk and (len(mk.labels) > 1 or re.search(r"(?:[Pp]anels?|[Ii]mages?)\s+\S+\s*[\)\]]$", m.group(0))):
            cands.append(mk)

    # 3–5: "A)" / "A." / bare "a" forms, tried only where a label-like token starts
    half_until = punct_until = 0
    for h in _LABEL_START_RE.finditer(text):
        pos = h.start()
        prev = text[pos - 1] if pos else " "
        # 3. half-bracket "A)", "a)", "A and B)"
        m = _HALF_PAREN_AT.match(text, pos) if pos >= half_until else None
        if m and (not (prev.isalnum() or prev in "_([") or (prev.islower() and h.group(0)[-1:] == ")")):
            mk = _half_paren(text, pos, m, xref_before)
            if mk:
                half_until = m.end()
                cands.append(mk)
        # 4. letter + punctuation "A.", "A:", "A,", "D-F:", "E, F."
        m = _PUNCT_AT.match(text, pos) if pos >= punct_until and not (prev.isalnum() or prev in "_-/") else None
        if m:
            pm = _PANEL_PREFIX_RE.search(text, max(0, pos - 8), pos)
            mk = _punct_label(text, pm.start() if pm else pos, m, xref_before)
            if mk:
                punct_until = m.end()
                cands.append(mk)
        # 5. bare letters "a Gleason grade 2, b Gleason grade 3", "B NHK does not…"
        m = _BARE_AT.match(text, pos) if not (prev.isalnum() or prev in "_-/'’.") or prev == "." else None
        if m:
            st = pos
            if prev == "(":
                st = pos - 1  # "(A Western blot…" (a bracket never closed)
            else:
                pm = _PANEL_PREFIX_RE.search(text, max(0, pos - 8), pos)
                if pm:
                    st = pm.start()
            mk = _bare_label(text, st, pos, m, xref_before)
            if mk:
                cands.append(mk)

    # 5b. a first label glued to the word after it by a lost space: "AWestern blot … cells.B Delivery
    # of NHK …". Weak: kept only when "B" is a bare label as well (see _article_is_label).
    m = _GLUED_FIRST_RE.match(text)
    if m and not any(c.start <= m.start(1) < c.end for c in cands):
        mk = _make(m.start(1), m.end(1), m.group(1), OPEN, "bare", WEAK)
        if mk:
            cands.append(mk)

    # 6. mentions: "panel A", "quantified in C" (used to give an otherwise silent panel words)
    for m in _PANEL_WORD_RE.finditer(text):
        if _boundary(text, m.start()) in ("start", "sentence"):
            continue
        opener = _IN_OPENER_RE.search(text, max(0, m.start() - 4), m.end(1) - len(m.group(1)))
        if opener and _boundary(text, opener.start()) in ("start", "sentence"):
            mk = _make(opener.start(), m.end(), m.group(1), OPEN, "bare", MEDIUM)  # "In panel A, …"
            if mk:
                cands.append(mk)
            continue
        mk = _make(m.start(), m.end(), m.group(1), REF, "bare", WEAK)
        if mk:
            cands.append(mk)
    for m in _QUANT_IN_RE.finditer(text):
        mk = _make(m.start(1), m.end(1), m.group(1), REF, "bare", WEAK)
        if mk:
            cands.append(mk)

    return _merge_adjacent(_resolve_overlaps(cands), text)


def _resolve_overlaps(cands: list[Marker]) -> list[Marker]:
    """Keep, among overlapping candidates, the strongest (then the longest)."""
    if not cands:
        return cands
    order = sorted(cands, key=lambda c: (-c.strength, -(c.end - c.start), c.start))
    starts: list[int] = []  # taken intervals never overlap: keep them sorted by start
    ends: list[int] = []
    taken: list[Marker] = []
    for c in order:
        i = bisect.bisect_right(starts, c.start)
        if i > 0 and ends[i - 1] > c.start:
            continue  # overlaps the interval starting before it
        if i < len(starts) and starts[i] < c.end:
            continue  # overlaps the interval starting after it
        starts.insert(i, c.start)
        ends.insert(i, c.end)
        taken.append(c)
    taken.sort(key=lambda c: c.start)
    return taken


_JOIN_RE = re.compile(r"^\s*(?:,\s*and|,\s*or|,|;|&|\+|and|or|/|[-–—])?\s*$")


def _merge_adjacent(cands: list[Marker], text: str) -> list[Marker]:
    """"(B) and C)", "(A), (B)", "((a), (b))", "(A) and (B)", "(A)–(C)" → one group."""
    out: list[Marker] = []
    for c in cands:
        if out:
            p = out[-1]
            gap = text[p.end : c.start] if c.start >= p.end else "x"
            if (
                p.scheme == c.scheme
                and p.form in ("paren", "bold", "half_paren")
                and c.form in ("paren", "bold", "half_paren")
                and _JOIN_RE.match(gap)
                and min(c.keys) > max(p.keys)
                and (p.kind == c.kind or p.kind == OPEN or c.form == "half_paren" or p.form == c.form == "paren")
            ):
                labels, keys = list(p.labels), list(p.keys)
                if re.match(r"^\s*[-–—]\s*$", gap) and len(p.labels) == 1 and len(c.labels) == 1:
                    rng = expand_group(f"{p.labels[0]}-{c.labels[0]}")
                    sk = _scheme_keys(rng) if rng else None
                    if sk:
                        labels, keys = list(rng), list(sk[1])
                else:
                    for lab, k in zip(c.labels, c.keys):
                        if lab not in labels:
                            labels.append(lab)
                            keys.append(k)
                start, end = p.start, c.end
                # "((a), (b))": swallow the outer brackets
                if start > 0 and end < len(text) and text[start - 1] == "(" and text[end] == ")":
                    start, end = start - 1, end + 1
                kind, inline, prep = p.kind, p.inline, p.prep
                if p.form == "paren" and _boundary(text, start) in ("word", "paren"):
                    kind, inline, prep = _classify_mid_sentence(text, start, end)
                elif kind != OPEN:
                    kind = CLOSE if c.kind == CLOSE or p.kind == CLOSE else kind
                out[-1] = replace(
                    p, start=start, end=end, labels=tuple(labels), kind=kind, strength=max(p.strength, c.strength),
                    keys=tuple(keys), inline=inline, prep=prep, subject=kind == CLOSE and _subject_label(text, end),
                )
                continue
        out.append(c)
    return out


# --------------------------------------------------------------------------------------------
# Caption-level validation
# --------------------------------------------------------------------------------------------


def _as_roman(m: Marker) -> Marker:
    """Re-read a single-letter label "i", "v", "x" as a roman numeral."""
    labels = []
    keys = []
    for lab in m.labels:
        v = _ROMAN_VALUES.get(lab.lower())
        if v is None:
            return m
        labels.append(lab)
        keys.append((v - 1) * 100)
    scheme = "roman" if m.scheme == "lower" else "ROMAN"
    return replace(m, labels=tuple(labels), scheme=scheme, keys=tuple(keys))


def _choose_scheme(cands: list[Marker]) -> tuple[str | None, list[Marker]]:
    """The caption's label scheme, and the candidates re-read for it (roman "i"/"v"/"x")."""
    score: dict[str, float] = {}
    for c in cands:
        if c.kind == REF:
            continue
        w = {STRONG: 3.0, MEDIUM: 2.0, WEAK: 0.5}[c.strength]
        score[c.scheme] = score.get(c.scheme, 0.0) + w * len(c.labels)
    if not score:
        return None, cands
    # roman numerals: "(i)", "(v)" parse as letters; count them as roman when roman numerals
    # proper ("ii", "iv") are present and no other letter beyond i/v/x is used as a label
    for low, up in (("roman", "lower"), ("ROMAN", "upper")):
        if score.get(low, 0.0) > 0:
            letters = [c for c in cands if c.scheme == up and c.kind != REF]
            if all(all(lab.lower() in ("i", "v", "x") for lab in c.labels) for c in letters):
                cands = [_as_roman(c) if c.scheme == up else c for c in cands]
                score[low] += score.pop(up, 0.0)
    best = max(score, key=lambda s: score[s])
    if best in ("roman", "ROMAN"):
        # numerals inside lettered panels ("(A) cells expressing OPTN (i), … (ii)") are conditions,
        # not panels: letters win when they name at least two panels
        for letters in ("upper", "lower"):
            named = {lab for c in cands if c.scheme == letters and c.kind != REF for lab in c.labels}
            if len(named) >= 2 and not named <= {"i", "v", "x", "I", "V", "X"}:
                return letters, cands
    return best, cands


def select_markers(text: str, cands: list[Marker]) -> list[Marker]:
    """Keep the candidates that together form a plausible panel-label sequence.

    - one scheme per caption: upper-case letters, lower-case letters or roman numerals;
    - labels advance: an opening label lies at most two letters past the furthest label so far
      (and a sequence starts at A, B or C); an opening label seen before is kept only in a strong
      form, as a re-opening ("Data information: (C, F) Mean is shown");
    - inline (mid-sentence) and bare labels must continue the sequence exactly, and a bare letter
      needs a neighbour (its predecessor already a marker, or its successor appearing later);
    - closing labels that name new panels must continue the sequence too; closing labels that
      name known panels are kept (the splitter decides whether they subdivide a group);
    - a caption needs two distinct panel labels.
    The rest become references (``kind == "ref"``). Returns markers sorted by position.
    """
    if not cands:
        return []
    scheme, cands = _choose_scheme(cands)
    if scheme is None:
        return []
    cs = [c for c in cands if c.scheme == scheme]
    last_position: dict[int, int] = {}  # last place each letter is named
    for c in cs:
        for k in c.letters:
            last_position[k] = max(last_position.get(k, -1), c.start)
    kept_letters: set[int] = set()

    # sub-labels ("B1", "B2") count only when a letter has at least two of them
    subs: dict[int, set[int]] = {}
    for c in cs:
        for k in c.keys:
            subs.setdefault(k // 100, set()).add(k % 100)

    def sub_ok(k: int) -> bool:
        sub, numbered = k % 100, {x for x in subs.get(k // 100, ()) if 0 < x < _PRIME_SUB}
        if sub == 0:
            return True
        if sub >= _PRIME_SUB:  # "B′" needs "B" (or numbered sub-panels of B)
            return 0 in subs.get(k // 100, ()) or bool(numbered)
        return len(numbered) >= 2

    cs = [c if all(sub_ok(k) for k in c.keys) else _as_ref(c) for c in cs]

    kept: list[Marker] = []
    refs: list[Marker] = []
    max_key = -1  # furthest letter named by a kept marker
    max_open = -1  # furthest letter opened
    solo_opened: set[int] = set()  # letters opened on their own (not only inside a range or list)
    for c in cs:
        if (
            c.kind == REF and c.prep and c.form == "paren" and kept and kept[-1].kind == CLOSE
            and min(c.letters) == max_key + 1 and len(c.letters) == 1
        ):
            # "…are shown in (d). The microdissected cells are shown in (e) where one can see…"
            c = replace(c, kind=CLOSE, prep=True)
        if c.kind == REF:
            refs.append(c)
            continue
        if c.kind == OPEN and c.inline and kept and kept[-1].kind == CLOSE and not re.search(
            r"[.!?;]\s", text[kept[-1].end : c.start]
        ) and not re.match(r"\s*[A-Z]", text[c.end : c.end + 3]):
            # "…with H&E (E), AR (F) and Ki-67 (G) staining": in a run of closing labels
            c = replace(c, kind=CLOSE, inline=False)
        lo, hi = min(c.letters), max(c.letters)
        new = hi > max_key
        if c.kind == OPEN and c.inline and c.form == "paren" and hi <= max_key and _SCOPED_NOTE_RE.match(text, c.end):
            # "…***P<0.001 (B, E) Scale bars: 10 µm." — described panels re-opened for a note on
            # them after a missing full stop: a re-opening, not a mention
            c = replace(c, inline=False)
        if max_key == -1 and lo > 2:
            refs.append(c)
            continue  # sequences start at A, B or C
        if c.kind == OPEN:
            if c.strength == WEAK or c.inline:
                first_ok = max_key == -1 and lo <= 2 and c.strength == WEAK  # "A" lost: "B NHK …"
                if (lo != max_key + 1 and not first_ok) or (c.strength == WEAK and len(c.letters) != 1):
                    if not (c.inline and lo <= max_open + 1 and lo > max_open and hi <= max_key):
                        refs.append(c)
                        continue
                if c.strength == WEAK:
                    prev_ok = lo > 0 and (lo - 1) in kept_letters
                    next_ok = last_position.get(lo + 1, -1) > c.start
                    if not (prev_ok or next_ok):
                        refs.append(c)
                        continue
                    if lo == 0 and c.labels[0] in ("A", "a") and not _article_is_label(text, c, cs):
                        refs.append(c)
                        continue
                if c.inline and max_key == -1 and not last_position.get(hi + 1, -1) > c.start:
                    refs.append(c)  # a lone mid-sentence "(A)" does not start a sequence
                    continue
            else:
                if min(k for k in c.letters if k > max_key) > max_key + 3 if new else lo > max_key + 3:
                    refs.append(c)
                    continue  # jump: (K) after (B), or "(M, A, R)(0)" after (D), is a mention, not a panel
                if hi <= max_open and c.strength < STRONG and (
                    len(c.letters) > 1 or c.letters[0] in solo_opened
                ):
                    refs.append(c)
                    continue  # "A." again — not a re-opening ("A and B) … A) … B)" is fine)
            kept.append(c)
            kept_letters.update(c.letters)
            max_open = max(max_open, hi)
            max_key = max(max_key, hi)
            if len(c.letters) == 1:
                solo_opened.add(c.letters[0])
        else:  # CLOSE
            if new and min(k for k in c.letters if k > max_key) > max_key + 1 and max_key >= 0:
                # "…cells from ctr MO (C) aplnra/b MO (D)…" after (A), or "(M, A, R)(0) = …" after
                # (D): the new letters jump ahead, so these are mentions or symbols, not panels
                refs.append(c)
                continue
            kept.append(c)
            kept_letters.update(c.letters)
            max_key = max(max_key, hi)

    labels = {lab for c in kept for lab in c.labels}
    if len(labels) < 2:
        return []
    top = max_key
    refs = [_as_ref(r) for r in refs if max(r.letters) <= top + 2]
    out = kept + refs
    out.sort(key=lambda c: (c.start, 0 if c.kind != REF else 1))
    return out


# notes that a caption scopes to some panels: "(B, E) Scale bars: 10 µm", "(C) Data are mean ± SD"
_SCOPED_NOTE_RE = re.compile(
    r"\s*(?:(?:Scale|Calibration|Error)\s+bars?\b|Insets?\b|(?:Data|Values)\s+(?:are|were|represent|show)\b"
    r"|Means?\s+(?:is|are|±|\+)|(?:Arrows?|Arrowheads?|Asterisks?)\b)"
)


def _as_ref(m: Marker) -> Marker:
    return m if m.kind == REF else replace(m, kind=REF)


def _article_is_label(text: str, c: Marker, cs: list[Marker]) -> bool:
    """A bare "A"/"a" opening a sentence is an article unless "B"/"b" is bare too."""
    for o in cs:
        if o.start > c.start and o.kind == OPEN and o.letters and o.letters[0] == 1:
            return o.form in ("bare", "bold")
    return False


# --------------------------------------------------------------------------------------------
# Positional labels (Left / Right / Top / Bottom / upper panel / inset)
# --------------------------------------------------------------------------------------------

POSITION_WORDS = ("left", "right", "top", "bottom", "upper", "lower", "middle", "center", "centre", "main", "inset")
_POS_WORD = rf"(?:{'|'.join(POSITION_WORDS)})"
_POS_PAIR = rf"{_POS_WORD}(?:\s*[,/]?\s*(?:left|right|middle|center|centre))?"  # "bottom, left"
_POS_NOUN = r"(?:\s+(?:panels?|images?|rows?|columns?|graphs?|insets?))?"
_POS_OPEN_RE = re.compile(
    rf"(?:\(\s*({_POS_PAIR}){_POS_NOUN}\s*\)"
    rf"|(?<![\w])({_POS_PAIR}){_POS_NOUN}\s*[:,.)\-–—])",
    re.I,
)


def find_positional(text: str) -> list[Marker]:
    """Positional panel labels, used only when a caption has no letter markers. Labels are the
    lower-cased position words ("left", "top", "upper", "inset"), ordered by first appearance."""
    out: list[Marker] = []
    order: dict[str, int] = {}
    for m in _POS_OPEN_RE.finditer(text):
        s = m.start()
        word = " ".join(re.split(r"[\s,/]+", (m.group(1) or m.group(2) or "").lower()))
        b = _boundary(text, s)
        subject = False
        if b in ("start", "sentence", "comma"):
            kind = OPEN
        elif m.group(1) is not None and b in ("word", "paren"):
            kind = CLOSE
            subject = _subject_label(text, m.end())
        else:
            continue
        k = order.setdefault(word, len(order))
        out.append(Marker(s, m.end(), (word,), kind, "position", MEDIUM, "position", (k * 100,), subject=subject))
    if len(order) < 2:
        return []
    return out


def find_markers(caption: str, caption_xml: str | None = None) -> tuple[CaptionText, list[Marker]]:
    """The caption's plain text and its validated panel markers (open, close and ref)."""
    ct = caption_text(caption, caption_xml)
    return ct, markers_or_positions(ct.text, select_markers(ct.text, find_candidates(ct)))


def markers_or_positions(text: str, selected: list[Marker]) -> list[Marker]:
    """The selected letter markers; when no letter cuts the caption, numbered parts ("1. Before
    treatment. 2. After…"), else positional labels."""
    if not any(m.kind != REF for m in selected):
        return find_numbered(text) or find_positional(text)
    return selected


# "1. Before treatment. 2. After two weeks." — a number opening the caption or a sentence, with "." or ")"
_NUMBERED_RE = re.compile(r"(?:^|(?<=[.;!?]\s)|(?<=\n))(\d{1,2})[.)]\s+(?=[A-Z(])")


def find_numbered(text: str) -> list[Marker]:
    """Numbered parts used as panel labels, only when no letter does: each opens the caption or a
    sentence, and they run 1, 2, 3… without a gap. Numbers in brackets or after a colon ("(1) Control",
    "1: Alcaligenes sp.") name lanes, compounds and layers far more often than panels: not read."""
    out: list[Marker] = []
    for m in _NUMBERED_RE.finditer(text):
        n = int(m.group(1))
        if n != len(out) + 1:
            continue
        out.append(Marker(m.start(), m.end(), (m.group(1),), OPEN, "punct", MEDIUM, "number", ((n - 1) * 100,)))
    return out if len(out) >= 2 else []
