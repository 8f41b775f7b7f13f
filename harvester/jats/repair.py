"""Byte-level repairs tried after a strict parse failed, before falling back to recover mode, and
the report of entity references whose text is lost.

libxml2's recover mode stops at a fatal error (an entity bomb, nesting past its depth limit) and
loses everything after it, so the causes it cannot get past are removed first:

* `without_internal_subset`: the DOCTYPE's internal subset (`<!DOCTYPE article [ ... ]>`) is
  dropped, keeping (or adding) an external identifier that is never loaded. Its entity
  declarations were never going to be expanded (billion laughs, quadratic blowup: libxml2 stops at
  its amplification guard even without substitution), and undeclared references in a document with
  an external DTD are not an error: each stays an entity node (HTML character names are read,
  the rest reported by `unexpanded_entities`).
* `escape_bare_ampersands`, `escape_bare_less_thans`: a `&` that starts no reference ("R&D")
  becomes `&amp;`, a `<` that starts no markup ("p <0.05") `&lt;`.
* `flatten_deep_nesting`: start and end tags deeper than `DEPTH_LIMIT` are dropped (libxml2 refuses
  more than 256 levels without XML_PARSE_HUGE), so their text is kept in the element at the limit
  and the rest of the document is read.
* `shorten_long_runs`: a text node or attribute value past libxml2's 10 MB limit is cut to its
  first and last 500 kB, so that the rest of the document is read.

Each keeps the line structure (newlines of removed markup stay), so line numbers still point into
the original file.
"""

from __future__ import annotations

import re
from html.entities import html5

from lxml import etree

from harvester.jats.encoding import counted

# HTML5 character names (a superset of HTML 4 and of the ISO sets the JATS DTD declares)
ENTITY_CHARS = {name[:-1]: text for name, text in html5.items() if name.endswith(";")}

_DOCTYPE = re.compile(
    rb"""<!DOCTYPE\s+([^\s\[>]+)((?:[^\[>"']|"[^"]*"|'[^']*')*)(\[(?:[^\]"']|"[^"]*"|'[^']*')*\]\s*)?>"""
)
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_DECL_END = re.compile(rb"^\s*(?:<\?xml\b[^>]*\?>)?")


def _newlines(chunk: bytes) -> bytes:
    return b"\n" * chunk.count(b"\n")


def without_internal_subset(data: bytes) -> tuple[bytes, str | None]:
    """`data` without the DOCTYPE's internal subset, with an external identifier that is never
    loaded (added when there is no DOCTYPE); returns (bytes, note) or (data, None) if unchanged."""
    m = _DOCTYPE.search(data, 0, 1 << 20)
    if m is not None:
        name, external, subset = m.group(1), m.group(2).strip(), m.group(3)
        if subset is None and external:
            return data, None  # nothing to drop: undeclared entities are already tolerated
        external = external or b'SYSTEM "about:none"'
        doctype = b"<!DOCTYPE " + name + b" " + external + b">" + _newlines(m.group(0))
        note = "the DOCTYPE's internal subset (entity declarations) was ignored" if subset else None
        return data[: m.start()] + doctype + data[m.end() :], note
    root = _FIRST_TAG.search(data, 0, 1 << 20)
    if root is None:
        return data, None
    at = _DECL_END.match(data).end()
    doctype = b'<!DOCTYPE ' + root.group(1) + b' SYSTEM "about:none">'
    return data[:at] + doctype + data[at:], None


_BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_:][\w.:-]*|#[0-9]+|#[xX][0-9a-fA-F]+);)")


def escape_bare_ampersands(data: bytes) -> tuple[bytes, str | None]:
    repaired, n = _BARE_AMPERSAND.subn(b"&amp;", data)
    return (repaired, f"{counted(n, 'bare ampersand')} escaped as &amp;") if n else (data, None)


# a "<" that cannot start markup: followed by a space, digit, "=", "-" (not "<!--") or another "<"
_BARE_LESS_THAN = re.compile(rb"<(?=[\s\d=<>]|-(?!-))")


def escape_bare_less_thans(data: bytes) -> tuple[bytes, str | None]:
    repaired, n = _BARE_LESS_THAN.subn(b"&lt;", data)
    return (repaired, f"{counted(n, 'bare less-than sign')} escaped as &lt;") if n else (data, None)


DEPTH_LIMIT = 200  # libxml2 refuses 256 levels; the deepest real JATS (MathML) stays far below
_MARKUP = re.compile(
    rb"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*')*(?:\[.*?\]\s*)?>"""
    rb"""|<(/?)[A-Za-z_][^\s/>]*(?:[^>"']|"[^"<]*"|'[^'<]*')*?(/?)>""",
    re.DOTALL,
)


def flatten_deep_nesting(data: bytes, limit: int = DEPTH_LIMIT) -> tuple[bytes, int, int]:
    """`data` without the start/end tags of elements nested deeper than `limit`; returns
    (bytes, number of elements flattened, line of the first one), (data, 0, 0) when none is."""
    kept: list[bytes] = []
    pos = depth = dropped = 0
    run_start = run_end = -1  # the run of adjacent dropped tags being extended
    for m in _MARKUP.finditer(data):
        closing, empty = m.groups()
        if closing is None:
            continue  # comment, CDATA, processing instruction, DOCTYPE
        if closing:
            deep = depth > limit
            if depth:
                depth -= 1
        else:
            deep = depth >= limit
            if not empty:
                depth += 1
            dropped += deep
        if deep:
            start, end = m.span()
            if start != run_end:
                if run_end >= 0:
                    kept.append(b"\n" * data.count(b"\n", run_start, run_end))
                kept.append(data[pos:start])
                run_start = start
            run_end = pos = end
    if run_end < 0:
        return data, 0, 0
    first_line = data.count(b"\n", 0, len(kept[0])) + 1
    kept.append(b"\n" * data.count(b"\n", run_start, run_end))
    kept.append(data[pos:])
    return b"".join(kept), dropped, first_line


LONG_RUN = 9_000_000  # libxml2 refuses a text node or attribute value of 10 MB without XML_PARSE_HUGE
LONG_RUN_KEPT = 1_000_000  # what is kept of such a run: its first and last half of this
_ELLIPSIS = " \u2026 ".encode()


def shorten_long_runs(data: bytes, limit: int = LONG_RUN, keep: int = LONG_RUN_KEPT) -> tuple[bytes, int, int]:
    """`data` with every run of bytes without a "<" (a text node or an attribute value: neither can
    hold one) longer than `limit` cut to its first and last `keep // 2` bytes around an ellipsis
    (at UTF-8 character boundaries); returns (bytes, runs cut, line of the first), (data, 0, 0) when
    none is."""
    kept: list[bytes] = []
    pos = cut = first_line = start = 0
    half, n = keep // 2, len(data)
    while start < n:
        end = data.find(b"<", start)
        if end < 0:
            end = n
        if end - start > limit:
            head_end, tail_start = start + half, end - half
            while head_end > start and data[head_end] & 0xC0 == 0x80:  # not inside a character
                head_end -= 1
            while tail_start < end and data[tail_start] & 0xC0 == 0x80:
                tail_start += 1
            kept += [data[pos:head_end], _ELLIPSIS, b"\n" * data.count(b"\n", head_end, tail_start)]
            pos = tail_start
            cut += 1
            if cut == 1:
                first_line = data.count(b"\n", 0, start) + 1
        start = end + 1
    if not cut:
        return data, 0, 0
    kept.append(data[pos:])
    return b"".join(kept), cut, first_line


def unexpanded_entities(article: etree._Element) -> str | None:
    """One loss line for the entity references in the text of `article` whose text is lost (figmine
    never expands entities; HTML character names are read as their characters), None if none is."""
    counts: dict[str, int] = {}
    for node in article.iter(etree.Entity):
        name = node.name
        if name not in ENTITY_CHARS:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    return (
        f"text of {counted(sum(counts.values()), 'entity reference')} missing ({_names(counts)}): entities "
        "declared in a document or its DTD are never expanded, only HTML character names are read"
    )


_UNDECLARED = re.compile(r"Entity '([^']*)' not defined")


def entities_in_attributes(root: etree._Element, log: etree._ListErrorLog) -> str | None:
    """One loss line for the undeclared entity references libxml2 dropped from attribute values
    (it keeps no entity node there, not even for an HTML character name): those the parser warned
    about that are not entity nodes of the tree."""
    counts: dict[str, int] = {}
    for entry in log:
        if entry.type_name == "WAR_UNDECLARED_ENTITY":
            m = _UNDECLARED.search(entry.message)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    if not counts:
        return None
    for node in root.iter(etree.Entity):
        if counts.get(node.name):
            counts[node.name] -= 1
    counts = {name: n for name, n in counts.items() if n > 0}
    if not counts:
        return None
    return (
        f"{counted(sum(counts.values()), 'entity reference')} dropped from attribute values ({_names(counts)}): "
        "an attribute value keeps no entity reference that is not declared in the document"
    )


def _names(counts: dict[str, int]) -> str:
    shown = sorted(counts, key=lambda k: (-counts[k], k))[:5]
    names = ", ".join(f"&{k};" + (f" ×{counts[k]}" if counts[k] > 1 else "") for k in shown)
    return names + (f" and {len(counts) - len(shown)} more names" if len(counts) > len(shown) else "")
