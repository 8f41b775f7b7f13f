"""Split scientific prose into sentences, by character offset.

A rule-based splitter tuned for biomedical text: a sentence ends at `.`, `!`, `?` or `…` followed
by whitespace and a capital letter (or an opening bracket/quote), after any closing brackets,
flattened superscript citations (`end.12,13 Next`), bracketed citations (`end.[12] Next`) or the
citation spans the caller passes (glued bibliographic xrefs: `end.3335 Next`). The next sentence
may also open with a lowercase symbol holding a capital, a digit or "::" ("p53", "mRNA",
"nSyt::GFP"), with "2D" or "5-HT", or with a quantity ("95% of", "10 mM NaCl"), but not with a
bare number ("Fig. 2"). It does not end after abbreviations ("Fig.", "Figs.", "et al.", "e.g.",
"i.e.", "vs.", "approx.", "ca.", ...), inside decimals ("3.5", "p < 0.05") or inside an `<xref>`,
nor after a personal initial ("J. Smith", "E. coli"); a single capital letter ends a sentence only
in panel context ("Fig. 4A and B. The") or before a sentence opener ("vitamin D. The", "D. mRNA").
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence

ABBREVIATIONS = frozenset(
    """
    fig figs al e.g i.e eg ie vs approx appr ca cf ref refs eq eqs eqn eqns no nos vol vols
    suppl supp sup sect ch chap p pp dr prof mr mrs ms st jr sr resp viz incl sp subsp ssp
    var cv tab tabs
    """.split()
)
# words that open a sentence after a single-letter token ("... vitamin D. The ...")
SENTENCE_STARTERS = frozenset(
    """
    The This These That Those There Their We Our In To It Its As A An For When While Since
    Although Because Finally Next Similarly Importantly Notably Interestingly Together Taken
    Collectively Consistent Consistently After Before Using Upon Overall Of On At By With Both All
    Each No Neither Unlike Given Despite Among Compared Surprisingly Indeed Additionally However
    Thus Therefore Moreover Furthermore Here Hence Then Thereby Further Such Only Most Many Some
    Figure Fig Figs Table Supplementary
    """.split()
)
_PANEL_CONTEXT = frozenset({"and", "or", "to", "through", "panel", "panels", "&"})
_TERMINATOR_CHARS = ".!?…"
_ASCII_TERMINATORS = ".!?"
_TERMINATOR_RUN = re.compile(r"[.!?…]+")
# citation numbers printed right after the full stop (a flattened superscript): "cells.12,13 Next"
_SUPERSCRIPT_CITATION = re.compile(r"\d{1,3}(?:[-–,]\d{1,3})*(?=\s)")
_CLOSERS = frozenset(")]}\"'”’»")
_OPENERS = frozenset("([\"'“‘«")
_BRACKET_CITATION = re.compile(r"\[\d+(?:\s*[-–,]\s*\d+)*\]")
_DOTTED_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
# a sentence may open with "2D", "3D", "5-HT", "18S" but not with a bare number ("Fig. 2")
_NUMERIC_START = re.compile(r"\d+(?:[A-Z]|-[A-Za-z])")
# ... or with a quantity: "95% confidence", "10 mM NaCl", "30 min later", "0.5 µg of"
_QUANTITY_START = re.compile(
    r"\d+(?:[.,]\d+)?\s?(?:[%‰]|°C?(?!\w)|(?:[fpnµμumcdk]?(?:M|mol|g|[lL]|m|Da)|[munµμ]?s|min|h|hr?s?|"
    r"hours?|days?|weeks?|months?|years?|[kM]?bp|kb|Mb|[kM]?Hz|[mk]?V|Gy|rpm)(?!\w))"
)
_NO_CITATIONS: dict[int, int] = {}  # shared, never written
_WORD_AFTER = re.compile(r"[\"'“‘«(\[]*([A-Za-z]+)")


def split_sentences(
    text: str,
    *,
    protected: Sequence[tuple[int, int]] = (),
    breaks: Iterable[int] = (),
    citations: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of `text`, whitespace trimmed, in order.

    `protected` spans (xrefs) never hold a sentence end; `breaks` are forced boundaries;
    `citations` (sorted spans of citation markers) stay with the sentence they follow.
    """
    return SentenceSplitter(text, protected=protected, breaks=breaks, citations=citations).split()


class SentenceSplitter:
    """Sentence boundaries of one text, decided lazily.

    Citances only need the sentences around figure references, so `sentence_at` judges just the
    full stops next to a position (found with str.rfind / str.find); `split` judges them all.
    Judgements are cached.
    """

    def __init__(
        self,
        text: str,
        *,
        protected: Sequence[tuple[int, int]] = (),
        breaks: Iterable[int] = (),
        citations: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.text = text
        self.n = len(text)
        self._prot_starts = [s for s, _ in protected]
        self._prot_ends = [e for _, e in protected]
        # citation spans by start: a chain of them right after a full stop stays with its sentence
        self._citations: dict[int, int] = dict(citations) if citations else _NO_CITATIONS
        self._breaks = sorted({b for b in breaks if 0 < b < self.n})
        # "…" is the one terminator outside ASCII; isascii() is free, `in` scans the text
        terms = _ASCII_TERMINATORS if text.isascii() else _TERMINATOR_CHARS
        self._term_chars = [c for c in terms if c in text]
        self._judged: dict[int, int | None] = {}

    def split(self) -> list[tuple[int, int]]:
        bounds = set(self._breaks)
        for m in _TERMINATOR_RUN.finditer(self.text):
            b = self._boundary(m.start(), m.end())
            if b is not None:
                bounds.add(b)
        bounds.add(self.n)
        spans: list[tuple[int, int]] = []
        start = 0
        for end in sorted(bounds):
            if end > start:
                span = self._trim(start, end)
                if span is not None:
                    spans.append(span)
                start = end
        return spans

    def sentence_at(self, start: int, end: int) -> tuple[int, int]:
        """The trimmed span of the sentence holding the text between `start` and `end`."""
        if end <= start and start > 0:
            start = end = start - 1  # an empty xref belongs to the text it is glued to
        text, n, judged = self.text, self.n, self._judged
        terms = self._term_chars
        lo, pos = 0, start
        while terms:  # walk back over full stops until one ends a sentence
            i = text.rfind(terms[0], 0, pos) if len(terms) == 1 else max(text.rfind(c, 0, pos) for c in terms)
            if i < 0:
                break
            run_start, run_end = i, i + 1
            while run_start > 0 and text[run_start - 1] in _TERMINATOR_CHARS:
                run_start -= 1
            while run_end < n and text[run_end] in _TERMINATOR_CHARS:
                run_end += 1
            b = judged[run_start] if run_start in judged else self._boundary(run_start, run_end)
            if b is not None and b <= start:
                lo = b
                break
            pos = run_start
        breaks = self._breaks
        if breaks:
            kb = bisect.bisect_right(breaks, start) - 1
            if kb >= 0:
                lo = max(lo, breaks[kb])
        hi, pos = n, end
        while terms:  # and forward: the next run of terminators at or after `pos`
            if len(terms) == 1:
                i = text.find(terms[0], pos)
            else:
                found = [k for k in (text.find(c, pos) for c in terms) if k >= 0]
                i = min(found) if found else -1
            if i < 0:
                break
            j = i + 1
            while j < n and text[j] in _TERMINATOR_CHARS:
                j += 1
            b = judged[i] if i in judged else self._boundary(i, j)
            if b is not None and b >= end:
                hi = b
                break
            pos = j
        if breaks:
            kb = bisect.bisect_left(breaks, end)
            if kb < len(breaks):
                hi = min(hi, breaks[kb])
        return self._trim(lo, hi) or (start, end)

    def _trim(self, s: int, e: int) -> tuple[int, int] | None:
        text = self.text
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        return (s, e) if e > s else None

    def _boundary(self, i: int, j: int) -> int | None:
        """Where the sentence ends if the terminator run text[i:j] ends one, else None."""
        if i in self._judged:
            return self._judged[i]
        result = self._judge(i, j)
        self._judged[i] = result
        return result

    def _judge(self, i: int, j: int) -> int | None:
        text, n = self.text, self.n
        k = -1
        if self._prot_starts:
            k = bisect.bisect_right(self._prot_starts, i) - 1
            if k >= 0 and i < self._prot_ends[k]:
                return None  # inside an xref ("Fig. 2")
        run_end = j
        while j < n and text[j] in _CLOSERS:  # closing brackets and citations stay with the sentence
            j += 1
        if j >= n:
            return n
        # the citation patterns only start with "[" or a digit: test that before calling re
        c = text[j]
        cit = None
        if c == "[":
            cit = _BRACKET_CITATION.match(text, j)
        elif c.isdecimal():
            if j in self._citations:  # "end.<xref>33</xref><xref>35</xref> Next"
                j = self._citation_chain(j)
                if j >= n:
                    return n
            # a digit before the stop makes a decimal ("3.5"), unless it ends an xref ("Fig. 6.12 Next")
            elif i > 0 and (not text[i - 1].isdigit() or (k >= 0 and self._prot_ends[k] == i)):
                cit = _SUPERSCRIPT_CITATION.match(text, j)
        if cit is not None:
            j = cit.end()
            if j >= n:
                return n
        if j + 1 >= n or not text[j].isspace():
            return None  # "3.5", "e.g.,", "end.The"
        nxt = text[j + 1]
        if not (
            nxt.isupper()
            or (nxt in _OPENERS and j + 2 < n and (text[j + 2].isupper() or text[j + 2].isdigit()))
            or (nxt.isdigit() and (_NUMERIC_START.match(text, j + 1) or _QUANTITY_START.match(text, j + 1)))
            or (nxt.islower() and _symbol_start(text, j + 1))
        ):
            return None
        if run_end - i == 1 and text[i] == "." and _is_abbreviation(text, i, j + 1):
            return None
        return j

    def _citation_chain(self, j: int) -> int:
        """End of the citation spans starting at `j`, glued ("3335") or joined by "," or a dash."""
        text, n, citations = self.text, self.n, self._citations
        end = citations[j]
        while True:
            k = end
            if k < n and text[k] in ",;-–—":
                k += 1
                while k < n and text[k] == " ":
                    k += 1
            if k not in citations:
                return end
            end = citations[k]


def _symbol_start(text: str, k: int) -> bool:
    """Whether the word at `k`, which starts lowercase, is a symbol that may open a sentence: it
    holds a capital, a digit or "::" after its first lowercase letters ("p53", "mRNA", "xI50",
    "nSyt::GFP"), unlike prose ("after") or a species name ("E. coli")."""
    n = len(text)
    while k < n and text[k].islower():
        k += 1
    return k < n and (text[k].isupper() or text[k].isdecimal() or text.startswith("::", k))


def _is_abbreviation(text: str, dot: int, next_start: int) -> bool:
    """Whether the `.` at `dot` closes an abbreviation or an initial rather than a sentence."""
    ws = text.rfind(" ", 0, dot)
    token = text[ws + 1 : dot]
    if not token.isprintable():  # other whitespace inside: find the last one the slow way
        ws = dot - 1
        while ws >= 0 and not text[ws].isspace():
            ws -= 1
        token = text[ws + 1 : dot]
    token = token.lstrip("([\"'“‘«")
    if not token:
        return False
    lower = token.lower()
    if lower in ABBREVIATIONS or _DOTTED_ABBREVIATION.fullmatch(token):
        return True
    if len(token) == 1 and token.isupper():
        # "J. Smith", "E. coli" are initials; "Fig. 4A and B. The" ends a sentence
        prev_end = ws
        while prev_end > 0 and text[prev_end - 1].isspace():
            prev_end -= 1
        prev_start = prev_end
        while prev_start > 0 and not text[prev_start - 1].isspace():
            prev_start -= 1
        prev = text[prev_start:prev_end]
        if prev.lower() in _PANEL_CONTEXT or prev.endswith((",", "–", "-", ";")):
            return False
        if text[next_start].islower():
            return False  # a symbol opens the next sentence: "vitamin D. mRNA levels"; never "E. coli"
        word = _WORD_AFTER.match(text, next_start)
        if word is not None and word.group(1) in SENTENCE_STARTERS:
            return False
        return True
    return False
