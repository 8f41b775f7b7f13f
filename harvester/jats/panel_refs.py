"""Read figure numbers and panel letters out of an in-text figure reference.

Input is the text of one `<xref ref-type="fig">` ("Fig. 2", "Figs. 2B and 3C", "Figure 7—figure
supplement 1") plus the text printed right after it, where authors often put the panels
("Fig. <xref>2</xref>B", "(<xref>Fig. 1b</xref>, d)"). Output is one `FigureMention` per figure
number, with its panel letters upper-cased.

Panels are taken when they are attached to the number ("2B", "3A–C", "6A′", "2Ai", "3(a)"), or
after a comma or space when they look like a panel list and not like a word: a lone letter followed
by another word ("Fig. 3 A total of", "Fig. 2, a new") is prose, as is a lower-case letter after a
plain space ("Fig. 5 a"). Ranges ("A–C", "a to d") are expanded; primes and roman sub-panels are
dropped ("A′" → A, "Ai" → A).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# a figure number, optionally supplementary ("S2"); "2.1" yields 2 only
# (at most 9 digits: int() refuses 4,300, and a longer run is no figure number)
_NUM = re.compile(r"(?<![\d.])(?:(?<![A-Za-z])([Ss]))?(\d{1,9})(?!\d)")
# one panel letter with optional primes or roman sub-panel (after upper-case letters only); a
# letter followed by a digit is a figure number ("S2"), not a panel
_ITEM = re.compile(r"([A-Za-z])([′'’″‴]*)([ivx]{1,4})?(?![A-Za-z0-9])")
_RANGE = re.compile(r"\s*(?:[-‐‑–—−]|to\s|through\s)\s*")
_CONJ = re.compile(r"\s*,\s*(?:and\s+|or\s+|&\s*)?|\s+(?:and|or)\s+|\s*&\s*|\s*/\s*")
# a letter followed by another word is prose, unless that word joins panels ("A and B")
_SUSPICIOUS = re.compile(r"\s+(?!(?:and|or|to|through)\b)[A-Za-z]")
_PANEL_ONLY = re.compile(
    r"\(?[A-Za-z][′'’]*(?:\s*(?:[-‐‑–—−]|,|and|&|to)\s*[A-Za-z][′'’]*)*\)?"
)
# text between two numbers of one reference: siblings ("2B and 3C") or a range ("2–4")
_SIBLING_GAP = re.compile(
    r"\s*(?:,|and|or|&|;)(?:\s*(?:and|&))?\s*(?:(?:Supplementary|Suppl\.?|Figs?\.?|Figures?)\s*)*",
    re.IGNORECASE,
)
_RANGE_GAP = re.compile(r"\s*(?:[-‐‑–—−]|to|through)\s*(?:(?:Figs?\.?|Figures?)\s*)?", re.IGNORECASE)
# text that makes the number before it a qualifier: "Figure 7—figure supplement 1", "Appendix 1 Figure 2"
_QUALIFIER_GAP = re.compile(r"\W*(?:\w+\W+)*?(?:fig(?:ure)?s?\.?|supplement|panel|video)\s*", re.IGNORECASE)
_PAREN_MAX = 24  # "(a)" .. "(A, C and E–G)": longer parentheses are prose


@dataclass
class FigureMention:
    """One figure number named by a reference, with the panels cited for it."""

    number: tuple[str, int] | None  # ("S", 2) for "S2", ("", 3) for "3"; None when the text has none
    panels: list[str] = field(default_factory=list)
    range_to_next: bool = False  # "2–4": every figure up to the next mention is cited
    end: int = 0  # offset in xref_text + following where the mention (with its panels) ends


# the common reference: one number, at most one panel letter, then ")", ".", ";" or nothing; or
# eLife's "Figure 7—figure supplement 1A", where the grammar drops the qualified number anyway
_PLAIN_REFERENCE = re.compile(
    r"(?:[A-Za-z. ]*?\d+—figure supplement |[A-Za-z. ]*?(?<![A-Za-z\d]))([Ss]?)(\d{1,9})([A-Za-z]?)"
)


def parse_mention(xref_text: str, following: str = "") -> list[FigureMention]:
    """Figure numbers and panels named by `xref_text`, reading panels on into `following`."""
    plain = _plain_mention(xref_text, following)
    if plain is not None:
        return plain
    text = xref_text + following
    numbers = list(_NUM.finditer(xref_text))
    if not numbers:
        stripped = xref_text.strip()
        # an xref holding only panel letters: "Fig. 2A and <xref>B</xref>"
        if stripped and _PANEL_ONLY.fullmatch(stripped):
            start = xref_text.index(stripped[0])
            if stripped[0] == "(":
                letters, end = scan_panels(text, start)
            else:
                letters, end = _expression(text, start, len(text), attached=True, trusted=len(xref_text))
            return [FigureMention(None, letters, end=max(end, len(xref_text.rstrip())))]
        return [FigureMention(None, [], end=len(xref_text.rstrip()))]
    mentions: list[FigureMention] = []
    for k, match in enumerate(numbers):
        is_last = k + 1 == len(numbers)
        bound = len(text) if is_last else numbers[k + 1].start()
        panels, end = scan_panels(text, match.end(), bound, trusted=len(xref_text.rstrip()))
        mention = FigureMention(((match.group(1) or "").upper(), int(match.group(2))), panels, end=end)
        if not is_last:
            gap = text[end:bound]
            if _RANGE_GAP.fullmatch(gap):
                mention.range_to_next = True
            elif _QUALIFIER_GAP.fullmatch(gap):
                continue  # "Figure 7—figure supplement 1": the last number counts
            elif not _SIBLING_GAP.fullmatch(gap):
                mentions.append(mention)
                break  # "Fig. 4; Table 1": the reference ended
        mentions.append(mention)
    return _merge_panel_ranges(mentions)


def _plain_mention(xref_text: str, following: str) -> list[FigureMention] | None:
    """The common reference ("Fig. 2", "Figure 3B") when what follows cannot add panels to it,
    decided from the next few characters; None when the full grammar must read it."""
    plain = _plain_reference(xref_text)
    if plain is None:
        return None
    number, panel, bare = plain
    if following and following[0] not in ").;:]" and not (bare and _no_panels_follow(following)):
        return None
    return [FigureMention(number, [panel] if panel else [], end=len(xref_text))]


@lru_cache(maxsize=1024)
def _plain_reference(xref_text: str) -> tuple[tuple[str, int], str, bool] | None:
    """(number, panel, bare) of a plain reference; xref texts repeat ("Figure 2"), so cached.
    `bare`: a number without panel preceded by a space ("2" of "Fig. 2", not "Fig.2"), which the
    full grammar reads the same way whatever follows, as long as it adds no panels."""
    plain = _PLAIN_REFERENCE.fullmatch(xref_text)
    if plain is None:
        return None
    panel = plain.group(3)
    at = plain.start(1)
    bare = not panel and (at == 0 or xref_text[at - 1] == " ")
    return (plain.group(1).upper(), int(plain.group(2))), panel.upper(), bare


def _no_panels_follow(following: str) -> bool:
    """Whether `scan_panels` is sure to find no panel letter after a number (see its cases): a
    character that opens none, a space and a lower-case letter ("2 shows"; never a panel after a
    plain space), or a comma and a word ("2, which": a panel letter is never followed by a letter)."""
    c = following[0]
    if c == " ":
        return following[1:2].islower()
    if c == ",":
        word = following[2:4]
        return (following[1:2] == " " and len(word) == 2 and word[0] in _LOWER_ASCII
                and word[1].isascii() and word[1].isalnum())
    return not (c.isalpha() or c.isspace() or c == "(")


_LOWER_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz")


def _merge_panel_ranges(mentions: list[FigureMention]) -> list[FigureMention]:
    """"Fig. 2A–2C" reads as two mentions of figure 2 joined by a range: make it one, A–C."""
    out: list[FigureMention] = []
    for mention in mentions:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.range_to_next
            and prev.number == mention.number
            and prev.panels
            and mention.panels
        ):
            lo, hi = ord(prev.panels[-1]), ord(mention.panels[0])
            between = [chr(c) for c in range(lo + 1, hi)] if 0 < hi - lo <= 25 else []
            prev.panels = list(dict.fromkeys(prev.panels + between + mention.panels))
            prev.range_to_next = mention.range_to_next
            prev.end = mention.end
            continue
        out.append(mention)
    return out


def panels_of(text: str) -> list[str]:
    """All panel letters named by a reference printed in running text ("Fig. 2B and C show"), in
    order. The text after the last figure number is read as prose following the xref."""
    numbers = list(_NUM.finditer(text))
    split = numbers[-1].end() if numbers else len(text)
    out: list[str] = []
    for mention in parse_mention(text[:split], text[split:]):
        out.extend(p for p in mention.panels if p not in out)
    return out


def scan_panels(text: str, pos: int, bound: int | None = None, trusted: int = 0) -> tuple[list[str], int]:
    """Panel letters starting at `pos`, right after a figure number; returns (letters, end).

    Letters ending before `trusted` lie inside the xref itself: the publisher marked them as part
    of the reference, so the prose heuristics are not applied to them."""
    n = len(text) if bound is None else min(bound, len(text))
    if pos >= n:
        return [], pos
    c = text[pos]
    if c == "(" or (c == " " and text.startswith("(", pos + 1)):
        open_at = pos if c == "(" else pos + 1
        close = text.find(")", open_at + 1, min(n, open_at + _PAREN_MAX))
        if close == -1:
            return [], pos
        inner = text[open_at + 1 : close].strip()
        letters, used = _expression(inner, 0, len(inner), attached=True)
        if letters and used == len(inner):
            return letters, close + 1
        return [], pos
    if c.isalpha():
        return _expression(text, pos, n, attached=True, trusted=trusted)
    if c == ",":
        lead = "comma"
        j = pos + 1
    elif c.isspace():
        lead = "space"
        j = pos
    else:
        return [], pos
    while j < n and text[j].isspace():
        j += 1
    letters, end = _expression(text, j, n, attached=False, lead=lead, trusted=trusted)
    return (letters, end) if letters else ([], pos)


def _item(text: str, pos: int, n: int) -> tuple[list[str], int, bool] | None:
    """One panel item ("A", "a′", "Aii", "A–C") at `pos`: (letters, end, is_lone_lowercase_a)."""
    m = _ITEM.match(text, pos, n)
    if m is None:
        return None
    letter, roman = m.group(1), m.group(3)
    if roman and not letter.isupper():
        return None  # "iv", "bi": a word or an ambiguous sub-panel, not a panel letter
    end = m.end()
    letters = [letter.upper()]
    r = _RANGE.match(text, end, n)
    if r is not None:
        m2 = _ITEM.match(text, r.end(), n)
        if m2 is not None and not (m2.group(3) and not m2.group(1).isupper()):
            last = m2.group(1)
            if last.isupper() == letter.isupper() and 0 < ord(last) - ord(letter) <= 25:
                letters = [chr(code).upper() for code in range(ord(letter), ord(last) + 1)]
                end = m2.end()
    return letters, end, letter == "a" and len(letters) == 1


def _expression(
    text: str, pos: int, n: int, *, attached: bool, lead: str = "", trusted: int = 0
) -> tuple[list[str], int]:
    """A chain of panel items joined by commas/and/&; returns (letters, end)."""
    first = _item(text, pos, n)
    if first is None:
        return [], pos
    letters, end, lone_a = first
    if not attached and end > trusted:
        if lead == "space" and text[pos].islower():
            return [], pos  # "Fig. 5 a": an article or a unit, not a panel
        if _SUSPICIOUS.match(text, end, n) or (lone_a and end >= n):
            return [], pos
    out = list(letters)
    while True:
        conj = _CONJ.match(text, end, n)
        if conj is None:
            break
        nxt = _item(text, conj.end(), n)
        if nxt is None:
            break
        letters, nxt_end, lone_a = nxt
        if nxt_end > trusted and (_SUSPICIOUS.match(text, nxt_end, n) or (lone_a and nxt_end >= n)):
            break
        out.extend(letters)
        end = nxt_end
    return list(dict.fromkeys(out)), end
