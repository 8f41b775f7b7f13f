"""Parse untrusted JATS bytes with lxml, safely, keeping as much of a damaged file as possible.

PMC, Europe PMC and publisher files arrive from the network, so the parser must never fetch or
expand anything the document asks for: no DTD loading, no network, no entity substitution, and
libxml2's size limits stay on (`huge_tree=False`). An XXE (`<!ENTITY x SYSTEM "file:///...">`)
therefore stays an unexpanded entity node, and billion-laughs input trips libxml2's
amplification guard instead of eating memory.

`read_xml` returns the tree with two lists: `warnings` (harmless repairs: UTF-16 undecodable
units, characters XML forbids, a bare "&", an ignored internal DTD subset) and `losses` (content
that could not be kept). A file that fails the strict parse is repaired where the cause is known
(`harvester.jats.encoding.repair_characters`, `harvester.jats.repair`: bad characters, entity
bombs, undeclared entities, bare "&" and "<", nesting deeper than libxml2 allows, text nodes past
its 10 MB limit; the last two lose markup or text, which is recorded as a loss) and parsed
strictly again; only when that fails is it read in recover mode, which is always a loss (libxml2
drops or misplaces what it cannot read and stops at the first fatal error: a truncated file keeps
its beginning only). UTF-16/32 input is read as UTF-8 (`encoding.to_utf8`). Input that is not XML
at all (empty, binary, HTML, XML without an `<article>`) raises `JatsError`; nothing else escapes.

Speed: reference lists (30–50% of a JATS file) and table grids are never read by figmine, so
they are cut out of the bytes before parsing, which more than halves parse time. Should the cut
leave malformed XML (a `<ref-list` inside a comment or CDATA), the untouched bytes are parsed.
The repairs cost nothing on a well-formed file: they run only after a strict parse failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from harvester.jats import encoding, repair

MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"

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


@dataclass
class Loss:
    """Content a parse could not keep: `reason` (one line) and the line of the file where the loss
    starts (None: anywhere), which tells the articles of a `<pmc-articleset>` before it unharmed."""

    reason: str
    line: int | None = None


@dataclass
class XmlDocument:
    root: etree._Element
    warnings: list[str] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    # whether entity reference nodes may be in the tree (their text may be lost): an undeclared
    # reference was seen, the internal subset declares entities, or the parse was recovered
    may_hold_entities: bool = False


def parse_xml(data: bytes | str, *, source_name: str = "") -> tuple[etree._Element, list[str]]:
    """Parse `data` into an element tree; returns (root, warnings and loss reasons). Raises `JatsError`."""
    doc = read_xml(data, source_name=source_name)
    return doc.root, doc.warnings + [loss.reason for loss in doc.losses]


def read_xml(data: bytes | str, *, source_name: str = "") -> XmlDocument:
    """Parse `data` (see the module docstring). Raises `JatsError` for input that is not XML."""
    where = f" ({source_name})" if source_name else ""
    warnings: list[str] = []
    if isinstance(data, str):
        # a str has already been decoded: its encoding declaration would now be wrong
        data = encoding.xml_text_to_utf8(data)
    else:
        data, warnings = encoding.to_utf8(bytes(data))
    if _is_blank(data):
        raise JatsError(f"empty input{where}: nothing to parse")
    losses: list[Loss] = []
    root, parser, failure = _strict(data)
    if failure is not None:
        data, root, parser, failure = _repaired(data, failure, warnings, losses)
    if root is None:
        root, parser = _recovered(data, failure, where, losses)
    _check_is_jats(root, where)
    may_hold_entities = _may_hold_entities(root, parser)
    if may_hold_entities and parser is not None:
        dropped = repair.entities_in_attributes(root, parser.error_log)
        if dropped:
            losses.append(Loss(dropped))
    return XmlDocument(root, warnings, losses, may_hold_entities or bool(losses))


@dataclass
class _Failure:
    """The first error (not warning) of a failed strict parse."""

    message: str
    line: int | None
    column: int | None

    @classmethod
    def of(cls, parser: etree.XMLParser, error: etree.XMLSyntaxError) -> _Failure:
        # the parser's own log: an exception's error_log also holds earlier parses' errors
        for entry in parser.error_log:
            if entry.level >= etree.ErrorLevels.ERROR:
                return cls(entry.message.strip(), entry.line, entry.column)
        return cls(str(error.msg or error).strip(), error.lineno, None)

    def where(self) -> str:
        return f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"


def _strict(data: bytes) -> tuple[etree._Element | None, etree.XMLParser, _Failure | None]:
    """(root, parser, None) of a strict parse, trimmed bytes first; (None, parser, failure) if it fails."""
    trimmed = without_unused_elements(data)
    if trimmed is not data:
        parser = _parser(recover=False)
        try:
            return etree.fromstring(trimmed, parser), parser, None
        except etree.XMLSyntaxError:
            pass  # judge the original bytes below
    parser = _parser(recover=False)
    try:
        return etree.fromstring(data, parser), parser, None
    except etree.XMLSyntaxError as error:
        return None, parser, _Failure.of(parser, error)


def _repaired(
    data: bytes, failure: _Failure, warnings: list[str], losses: list[Loss]
) -> tuple[bytes, etree._Element | None, etree.XMLParser | None, _Failure]:
    """Repair the causes of strict-parse failures figmine knows, one at a time, each followed by
    another strict parse; returns (bytes, root or None, parser, last failure)."""
    done: set[str] = set()
    parser = None
    while True:
        step = _next_repair(data, failure.message, done)
        if step is None:
            return data, None, parser, failure
        data, notes, loss = step
        warnings.extend(notes)
        if loss is not None:
            losses.append(loss)
        root, parser, new_failure = _strict(data)
        if new_failure is None:
            return data, root, parser, failure
        failure = new_failure


def _next_repair(data: bytes, message: str, done: set[str]) -> tuple[bytes, list[str], Loss | None] | None:
    candidates = ["characters"]
    if "Excessive depth" in message:
        candidates.append("depth")
    elif "XML_PARSE_HUGE" in message or "Resource limit" in message or "huge" in message.lower():
        candidates.append("long runs")
    if "StartTag: invalid element name" in message:
        candidates.append("less-thans")
    if "EntityRef: expecting ';'" in message or "xmlParseEntityRef: no name" in message:
        candidates.append("ampersands")
    elif "ntity" in message or "amplification" in message:
        candidates.append("doctype")
    for name in candidates:
        if name in done:
            continue
        done.add(name)
        notes: list[str] = []
        loss = None
        if name == "characters":
            repaired, notes = encoding.without_wide_declaration(data)
            repaired, more = encoding.repair_characters(repaired)
            notes += more
        elif name == "depth":
            repaired, count, line = repair.flatten_deep_nesting(data)
            if count:
                loss = Loss(
                    f"elements nested deeper than {repair.DEPTH_LIMIT} levels (libxml2 allows 256) from line "
                    f"{line} on: {count} elements were flattened, their text kept and their markup lost",
                    line,
                )
        elif name == "long runs":
            repaired, count, line = repair.shorten_long_runs(data)
            if count:
                loss = Loss(
                    f"{count} text node(s) or attribute value(s) longer than libxml2's 10 MB limit from line {line} "
                    f"on: each cut to its first and last {repair.LONG_RUN_KEPT // 2000} kB, the middle lost",
                    line,
                )
        elif name == "ampersands":
            repaired, note = repair.escape_bare_ampersands(data)
            notes = [note] if note else []
        elif name == "less-thans":
            repaired, note = repair.escape_bare_less_thans(data)
            notes = [note] if note else []
        else:
            repaired, note = repair.without_internal_subset(data)
            if note:
                notes = [f"{note} ({message})"]
        if repaired is not data:
            return repaired, notes, loss
    return None


def _recovered(
    data: bytes, failure: _Failure, where: str, losses: list[Loss]
) -> tuple[etree._Element, etree.XMLParser]:
    """The tree libxml2's recover mode makes of `data`, the loss recorded; `JatsError` when none."""
    parser = _parser(recover=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.LxmlError as recover_error:
        raise JatsError(f"not XML{where}: {recover_error}") from recover_error
    if root is None:
        raise JatsError(f"not XML{where}: {failure.message}, {failure.where()}")
    if not _closes_root(data, root):
        reason = (f"the file ends before </{_local_name(root)}> (truncated?): the article is kept up to where "
                  f"the XML breaks ({failure.where()}: {failure.message}), the rest is missing")
    else:
        reason = (f"malformed XML at {failure.where()} ({failure.message}): read in recovery mode, content from "
                  "there on may be missing or misplaced")
    losses.append(Loss(reason, failure.line))
    return root, parser


def _closes_root(data: bytes, root: etree._Element) -> bool:
    """Whether the bytes end with the root element's end tag (else the file was cut short)."""
    tail = data[-512:].rstrip(_BLANK)
    name = _local_name(root).encode("utf-8", "replace")
    end = tail.rfind(b"</")
    if end < 0 or not tail.endswith(b">"):
        return False
    closing = tail[end + 2 : -1].strip()
    return closing == name or closing.endswith(b":" + name)


def _local_name(el: etree._Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1] or "?"


def _may_hold_entities(root: etree._Element, parser: etree.XMLParser | None) -> bool:
    if parser is not None:
        for entry in parser.error_log:
            if entry.type_name == "WAR_UNDECLARED_ENTITY":
                return True
    dtd = root.getroottree().docinfo.internalDTD
    return dtd is not None and next(iter(dtd.iterentities()), None) is not None


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
