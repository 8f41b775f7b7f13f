"""Bytes before XML: encodings, byte order marks and characters XML 1.0 does not allow.

* `to_utf8`: UTF-16 and UTF-32 input (with a byte order mark, or without one but recognisable by
  the NUL bytes around its first "<") is decoded and re-encoded as UTF-8 before parsing, so that
  the byte-level cutting and repairs below see ASCII-compatible bytes. Every other input is passed
  on as the same object (libxml2 reads its encoding declaration; a UTF-8 BOM is harmless).
* `repair_characters`: run only after a strict parse failed. Character references to characters
  XML forbids are repaired (`&#1;` and other control characters removed; a surrogate pair written
  as two references, `&#xD835;&#xDC00;`, joined into one character; a lone surrogate, `&#xFFFE;`
  or a number beyond U+10FFFF replaced by U+FFFD), raw control bytes removed, and in a UTF-8 file
  encoded surrogates joined or replaced and bytes that are not UTF-8 read as Windows-1252 (the
  usual cause: one pasted Latin-1 character). Each repair is described in one warning line.
* `strip_controls`: control characters (C0 but tab/newline/return, DEL, C1) and the
  non-characters U+FFFE/U+FFFF removed from a text figmine keeps; whitespace collapsed again.
* `sniff_jats`: the cheap "is this JATS?" test the sources run on a file's first bytes before
  parsing (UTF-16 included).
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass

# (byte order mark, codec), longest first: the UTF-32 LE mark begins with the UTF-16 LE one
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UNIT = {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}
# the encoding pseudo-attribute of an XML declaration (of a str: the declaration is rewritten)
_DECL_ENCODING = re.compile(r"""^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*(["'])[^"']*\2""")
_DECLARED = re.compile(rb"""^\s*<\?xml\b[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_WIDE_ENCODINGS = re.compile(r"utf-?16|utf-?32|ucs-?2|ucs-?4|unicode", re.IGNORECASE)


def unicode_encoding(data: bytes) -> tuple[str | None, int]:
    """(codec, length of its byte order mark) of UTF-8/16/32 input recognisable from its first
    bytes; (None, 0) for anything else (ASCII-compatible bytes without a BOM)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    if len(data) >= 4 and (data[0] == 0) != (data[1] == 0):  # one NUL in the first code unit
        if data[:4] == b"<\0\0\0" or (data[1:4] == b"\0\0\0" and data[0] in b" \t\r\n"):
            return "utf-32-le", 0
        if data[:4] == b"\0\0\0<" or (data[:3] == b"\0\0\0" and data[3] in b" \t\r\n"):
            return "utf-32-be", 0
        return ("utf-16-le" if data[1] == 0 else "utf-16-be"), 0
    return None, 0


def to_utf8(data: bytes) -> tuple[bytes, list[str]]:
    """UTF-16/32 input as UTF-8 bytes (encoding declaration dropped); other input unchanged (the
    same object). Returns (bytes, warnings): undecodable code units become U+FFFD with a warning."""
    codec, bom = unicode_encoding(data)
    if codec is None or codec == "utf-8":
        return data, []
    body = memoryview(data)[bom:]
    warnings: list[str] = []
    try:
        text = str(body, codec)
    except UnicodeDecodeError:
        text = str(body, codec, "replace")
        warnings.append(
            f"{counted(text.count(chr(0xFFFD)), 'code unit')} not valid in {codec.upper()} (lone surrogates "
            "or a truncated last character) replaced by U+FFFD"
        )
    return xml_text_to_utf8(text), warnings


def xml_text_to_utf8(text: str) -> bytes:
    """An already decoded document as UTF-8 bytes: the encoding its declaration names no longer
    applies, so it is dropped; lone surrogates are kept encoded for `repair_characters`."""
    text = _DECL_ENCODING.sub(r"\1", text.removeprefix("\ufeff"), count=1)
    return text.encode("utf-8", "surrogatepass")


def declared_encoding(data: bytes) -> str | None:
    """The encoding named by the XML declaration, lower-case; None when there is none."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    m = _DECLARED.match(data[start : start + 512])
    return m.group(1).decode("ascii", "replace").strip().lower() if m else None


def without_wide_declaration(data: bytes) -> tuple[bytes, list[str]]:
    """8-bit input (no NUL-padded code units) whose declaration names UTF-16 or UTF-32, a common
    leftover of re-encoding: the declaration is dropped and the bytes are read as UTF-8."""
    declared = declared_encoding(data)
    if declared is None or not _WIDE_ENCODINGS.search(declared) or unicode_encoding(data)[0] not in (None, "utf-8"):
        return data, []
    head_end = data.find(b"?>") + 2
    if head_end < 2:
        return data, []
    head = _DECL_ENCODING.sub(r"\1", data[:head_end].decode("latin-1"), count=1).encode("latin-1")
    note = f"declared encoding {declared.upper()} does not match the 8-bit bytes: read as UTF-8"
    return head + data[head_end:], [note]


# --- characters XML does not allow -------------------------------------------------------------

_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
_C0_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
# a surrogate encoded as UTF-8 (CESU-8, Java's modified UTF-8): a high one followed by a low one
# is one character; the noncharacters U+FFFE/U+FFFF are not XML characters either
_ENCODED_PAIR = re.compile(rb"\xed([\xa0-\xaf][\x80-\xbf])\xed([\xb0-\xbf][\x80-\xbf])")
_ENCODED_SURROGATE_OR_NONCHAR = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]|\xef\xbf[\xbe\xbf]")
_UTF8_NAMES = frozenset({None, "utf-8", "utf8"})
_REPLACEMENT = "\ufffd".encode()


def counted(n: int, noun: str) -> str:
    """"1 byte", "3 bytes", "2 control characters": `noun` in the singular."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _is_xml_char(cp: int) -> bool:
    return cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF


def repair_characters(data: bytes) -> tuple[bytes, list[str]]:
    """`data` with the characters XML 1.0 forbids repaired (see the module docstring); returns
    (bytes, warnings), the same object and no warning when nothing needed repair."""
    warnings: list[str] = []
    # first: a NUL inside "&#x0;" would hide the reference
    kept = data.translate(None, _C0_BYTES)
    if len(kept) < len(data):
        warnings.append(f"{counted(len(data) - len(kept), 'control character')} (bytes below 0x20) removed")
        data = kept
    if b"&#" in data:
        data, note = _repair_references(data)
        if note:
            warnings.append(note)
    if declared_encoding(data) in _UTF8_NAMES:
        data, note = _repair_utf8(data)
        if note:
            warnings.append(note)
    return data, warnings


def _repair_references(data: bytes) -> tuple[bytes, str | None]:
    removed: dict[str, int] = {}
    replaced: dict[str, int] = {}
    joined = 0
    pending_high: list[int] = []  # a high surrogate reference waiting for its low half

    def code_point(m: re.Match[bytes]) -> int:
        hex_digits, digits = m.group(1), m.group(2)
        return int(hex_digits, 16) if hex_digits else int(digits)

    def fix(m: re.Match[bytes]) -> bytes:
        nonlocal joined
        cp = code_point(m)
        if _is_xml_char(cp):
            return m.group(0)
        ref = m.group(0).decode("ascii")
        if 0xD800 <= cp <= 0xDBFF:
            after = _CHAR_REF.match(data, m.end())
            if after is not None and 0xDC00 <= code_point(after) <= 0xDFFF:
                pending_high.append(m.end())
                joined += 1
                low = code_point(after)
                return b"&#x%X;" % (0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00))
        if 0xDC00 <= cp <= 0xDFFF and pending_high and pending_high[-1] == m.start():
            pending_high.pop()
            return b""  # the low half of a pair already joined
        if cp < 0x20:
            removed[ref] = removed.get(ref, 0) + 1
            return b""
        replaced[ref] = replaced.get(ref, 0) + 1
        return b"&#xFFFD;"

    repaired = _CHAR_REF.sub(fix, data)
    parts = []
    if removed:
        parts.append(
            f"{counted(sum(removed.values()), 'character reference')} to control characters removed "
            f"({_examples(removed)})"
        )
    if replaced:
        parts.append(
            f"{counted(sum(replaced.values()), 'character reference')} to characters XML forbids "
            "(lone surrogates, U+FFFE/U+FFFF, "
            f"beyond U+10FFFF) replaced by U+FFFD ({_examples(replaced)})"
        )
    if joined:
        parts.append(
            f"{counted(joined, 'surrogate pair')} written as two character references joined into one character"
        )
    return (repaired, "; ".join(parts)) if parts else (data, None)


def _examples(counts: dict[str, int]) -> str:
    shown = sorted(counts, key=lambda k: (-counts[k], k))[:4]
    text = ", ".join(k if counts[k] == 1 else f"{k} ×{counts[k]}" for k in shown)
    return text + (", …" if len(counts) > 4 else "")


def _repair_utf8(data: bytes) -> tuple[bytes, str | None]:
    notes = []
    if b"\xed" in data or b"\xef\xbf" in data:
        pairs = len(_ENCODED_PAIR.findall(data))
        if pairs:
            data = _ENCODED_PAIR.sub(_join_encoded_pair, data)
            notes.append(f"{counted(pairs, 'surrogate pair')} encoded as 6 bytes joined")
        data, lone = _ENCODED_SURROGATE_OR_NONCHAR.subn(_REPLACEMENT, data)
        if lone:
            notes.append(f"{counted(lone, 'encoded lone surrogate')} or U+FFFE/U+FFFF replaced by U+FFFD")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        _bad_bytes.count = 0
        data = data.decode("utf-8", "figmine-cp1252").encode("utf-8")
        notes.append(f"{counted(_bad_bytes.count, 'byte')} not valid in UTF-8 read as Windows-1252")
    return data, "; ".join(notes) or None


_bad_bytes = threading.local()  # bytes the handler below decoded, per thread


def _as_cp1252(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start : error.end]
    _bad_bytes.count = getattr(_bad_bytes, "count", 0) + len(chunk)
    return chunk.decode("cp1252", "replace"), error.end


codecs.register_error("figmine-cp1252", _as_cp1252)


def _join_encoded_pair(m: re.Match[bytes]) -> bytes:
    high = (b"\xed" + m.group(1)).decode("utf-8", "surrogatepass")
    low = (b"\xed" + m.group(2)).decode("utf-8", "surrogatepass")
    return (high + low).encode("utf-16-le", "surrogatepass").decode("utf-16-le").encode("utf-8")


# --- control characters in kept text -----------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def strip_controls(text: str) -> str:
    """`text` without control characters (tab, newline and return become spaces) and without
    U+FFFE/U+FFFF or surrogates, whitespace collapsed. Cheap when there is nothing to remove: pass
    only text whose `isprintable()` is False, or call `clean_controls`."""
    return " ".join(_CONTROL.sub("", text).split())


def clean_controls(text: str | None) -> str | None:
    """`strip_controls` for a whitespace-normalised text, skipped for the usual printable one."""
    if not text or text.isprintable():
        return text
    return strip_controls(text) if _CONTROL.search(text) else text


def strip_controls_markup(xml: str) -> str:
    """Control characters removed from serialised XML (its whitespace kept)."""
    return _CONTROL.sub("", xml)


# --- sniffing -----------------------------------------------------------------------------------

_LEADING_BLANK = b"\xef\xbb\xbf \t\r\n"


@dataclass(frozen=True)
class Sniff:
    """What a file's first bytes say."""

    is_xml: bool  # starts with "<" (after a byte order mark and whitespace)
    has_article: bool  # an `<article` or `<pmc-articleset` (any case) among them
    reason: str | None  # why it is not JATS; None when it looks like JATS (both of the above)


def sniff_jats(head: bytes) -> Sniff:
    """Cheap test of a file's first bytes (UTF-8, Latin-1, UTF-16/32 with or without a byte order
    mark): malformed-but-recoverable XML is left to the parser; a PDF, JSON or an empty file is not
    XML; XML without `<article>`/`<pmc-articleset>` near its start is not JATS."""
    codec, bom = unicode_encoding(head)
    if codec is not None and codec != "utf-8":
        unit = _UNIT[codec]
        usable = bom + (len(head) - bom) // unit * unit
        head = str(memoryview(head)[bom:usable], codec, "replace").encode("utf-8")
    text = head.lstrip(_LEADING_BLANK)
    is_xml = text.startswith(b"<")
    low = text.lower()
    has_article = b"<article" in low or b"<pmc-articleset" in low
    if not text:
        reason: str | None = "the file is empty"
    elif not is_xml:
        reason = f"it does not start with '<' (starts with {text[:16]!r})"
    elif not has_article:
        reason = "no <article> element near its start"
    else:
        reason = None
    return Sniff(is_xml, has_article, reason)
