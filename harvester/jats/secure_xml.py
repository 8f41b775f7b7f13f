"""Parse untrusted JATS bytes with lxml, safely.

PMC, Europe PMC and publisher files arrive from the network, so the parser must never fetch or
expand anything the document asks for: no DTD loading, no network, no entity substitution, and
libxml2's size limits stay on (`huge_tree=False`). An XXE (`<!ENTITY x SYSTEM "file:///...">`)
therefore stays an unexpanded entity node, and billion-laughs input trips libxml2's
amplification guard instead of eating memory.

Malformed files are retried in recover mode; the caller records the returned warning. Input that
is not XML at all (empty, binary, HTML, XML without an `<article>`) raises `JatsError`.

Speed: reference lists (30–50% of a JATS file) and table grids are never read by figmine, so
they are cut out of the bytes before parsing, which more than halves parse time. Should the cut
leave malformed XML (a `<ref-list` inside a comment or CDATA), the untouched bytes are parsed.
"""

from __future__ import annotations

import re

from lxml import etree

MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


_BLANK = b" \t\r\n\x00\xef\xbb\xbf"  # whitespace, NUL and UTF-8 BOM bytes


class JatsError(ValueError):
    """The input is not a JATS document that can be read at all."""


def _parser(recover: bool) -> etree.XMLParser:
    # a fresh parser per call: lxml parsers must not be shared between threads
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes | str, *, source_name: str = "") -> tuple[etree._Element, list[str]]:
    """Parse `data` into an element tree; returns (root, warnings). Raises `JatsError`."""
    where = f" ({source_name})" if source_name else ""
    if isinstance(data, str):
        # a str has already been decoded: its encoding declaration would now be wrong
        data = _XML_DECL.sub("", data, count=1).encode("utf-8")
    if _is_blank(data):
        raise JatsError(f"empty input{where}: nothing to parse")
    warnings: list[str] = []
    trimmed = without_unused_elements(data)
    root = None
    if trimmed is not data:
        try:
            root = etree.fromstring(trimmed, _parser(recover=False))
        except etree.XMLSyntaxError:
            root = None  # judge the original bytes below
    try:
        if root is None:
            root = etree.fromstring(data, _parser(recover=False))
    except etree.XMLSyntaxError as strict_error:
        parser = _parser(recover=True)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as error:
            raise JatsError(f"not XML{where}: {error}") from error
        if root is None:
            raise JatsError(f"not XML{where}: {strict_error}") from strict_error
        warnings.append(f"recovered from malformed XML: {strict_error}")
    _check_is_jats(root, where)
    return root, warnings


def _is_blank(data: bytes) -> bool:
    # the first byte decides for almost every file: strip() would copy a file ending in "\n"
    return not data or (data[0] in _BLANK and not data.strip(_BLANK))


# elements figmine never reads, cut out of the bytes before parsing: reference lists (30–50% of
# a JATS file) and table grids (captions and footnotes, in <table-wrap>, stay)
UNUSED_ELEMENTS = (b"ref-list", b"table")
_TAG_END = frozenset(b" \t\r\n>")  # bytes that end a tag name


def without_unused_elements(data: bytes, names: tuple[bytes, ...] = UNUSED_ELEMENTS) -> bytes:
    """`data` without the `<name>...</name>` elements listed (the same object when none is found).

    Byte-level tag matching only: nested elements of the same name are balanced, `<name/>` and
    longer names (`<table-wrap>`) are left alone, and a missing close tag stops the cutting."""
    for name in names:
        data = _cut(data, name)
    return data


_LT, _SLASH = ord("<"), ord("/")


def _cut(data: bytes, name: bytes) -> bytes:
    # One bytes.find stream for the bare name finds opening and closing tags alike, so each byte
    # is scanned once (finding "<name" and "</name>" separately scans each cut region twice).
    find = data.find
    size, n = len(name), len(data)
    view = memoryview(data)  # slices without copying; join copies once
    kept: list[memoryview] = []
    pos = depth = start = 0
    i = find(name)
    while i >= 0:
        after = i + size
        if i and data[i - 1] == _LT:
            if after < n and data[after] in _TAG_END:  # "<name>", "<name attr", not "<name-wrap"
                if not depth:
                    start = i - 1
                depth += 1
        elif depth and i > 1 and data[i - 1] == _SLASH and data[i - 2] == _LT and data[after : after + 1] == b">":
            depth -= 1
            if not depth:
                kept.append(view[pos:start])
                pos = after + 1
        i = find(name, after)
    if not kept:
        return data
    kept.append(view[pos:])  # an element left open keeps everything from its start
    return b"".join(kept)


def _check_is_jats(root: etree._Element, where: str) -> None:
    tag = root.tag if isinstance(root.tag, str) else ""
    local = tag.rsplit("}", 1)[-1].lower()
    if local == "html":
        raise JatsError(f"HTML document, not JATS XML{where}")
    if local == "article":
        return
    if next(root.iter("article", "{*}article"), None) is None:
        raise JatsError(f"no JATS <article> element{where}: root element is <{local or '?'}>")


def find_articles(root: etree._Element) -> list[etree._Element]:
    """The `<article>` elements of a document: the root itself, or each article of a
    `<pmc-articleset>` (efetch) or OAI-PMH wrapper. Sub-articles are not articles."""
    if isinstance(root.tag, str) and root.tag.rsplit("}", 1)[-1] == "article":
        articles = [root]
    else:
        articles = []
        for el in root.iter("article", "{*}article"):
            # skip an <article> nested inside another one already taken
            if not any(el is a or _is_ancestor(a, el) for a in articles[-1:]):
                articles.append(el)
    for article in articles:
        if article.tag[0] == "{":
            strip_namespaces(article)
    return articles


def _is_ancestor(ancestor: etree._Element, el: etree._Element) -> bool:
    return any(a is ancestor for a in el.iterancestors())


def strip_namespaces(article: etree._Element) -> None:
    """Drop element namespaces (PMC OAI-PMH serves JATS in a default namespace) except MathML,
    so the rest of the parser can match plain JATS tag names."""
    for el in article.iter():
        tag = el.tag
        if isinstance(tag, str) and tag[0] == "{" and not tag.startswith(MATHML_NS):
            el.tag = tag.split("}", 1)[1]
