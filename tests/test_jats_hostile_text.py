"""Hostile and damaged text on real articles (issue 11, items 7 and 3): invalid character references,
control characters, UTF-16/32 input, entity bombs, nesting past libxml2's limit, truncated files.

Each input is generated here from a real fixture article. Wanted: the article is kept; a harmless
repair is listed in `warnings`, content that could not be kept in `losses` (one line per reason);
nothing escapes but `JatsError` (input that is not XML), and no input costs more than a few
seconds or ~100 MB.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.jats import JatsError, parse_jats
from harvester.jats.encoding import sniff_jats
from harvester.records import ParsedArticle

FIXTURES = Path(__file__).parent / "fixtures" / "nxml"
ELIFE = FIXTURES / "elife" / "elife00005.xml"  # one line, 14 figures, 57 citances
PLOS = FIXTURES / "plos" / "journal.pone.0005723.xml"  # many lines
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def real(path: Path = ELIFE) -> bytes:
    return path.read_bytes()


def only(data: bytes | str) -> ParsedArticle:
    (article,) = parse_jats(data)  # type: ignore[arg-type]
    return article


def texts(article: ParsedArticle) -> Iterator[str]:
    """Every string figmine keeps from an article, at any depth."""

    def walk(value: object) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(k)
                yield from walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)

    data = dataclasses.asdict(article)
    data.pop("warnings"), data.pop("losses")
    yield from walk(data)


def summary(article: ParsedArticle) -> tuple[int, int, list[str]]:
    return len(article.figures), len(article.citances), [f.caption_text for f in article.figures]


REFERENCE = only(real())


def caption_of(article: ParsedArticle, jats_id: str) -> str:
    """The caption text of a figure after its title."""
    figure = next(f for f in article.figures if f.jats_id == jats_id)
    return figure.caption_text.removeprefix(figure.caption_title or "").lstrip()


def in_first_caption(data: bytes, insert: bytes) -> bytes:
    """`insert` put at the start of the first paragraph of Figure 1's caption."""
    at = data.index(b"<p>", data.index(b"<caption>", data.index(b'<fig id="fig1"'))) + 3
    return data[:at] + insert + data[at:]


# --- item 7: characters ------------------------------------------------------------------------


def test_a_lone_surrogate_reference_keeps_the_article_with_a_warning() -> None:
    article = only(in_first_caption(real(), b"Bad &#xD800; char. "))
    assert summary(article)[:2] == summary(REFERENCE)[:2], "no figure or citance lost"
    assert caption_of(article, "fig1").startswith("Bad \ufffd char. ")
    assert article.losses == []
    (warning,) = article.warnings
    assert "&#xD800;" in warning and "U+FFFD" in warning


def test_a_surrogate_pair_written_as_two_references_is_one_character() -> None:
    article = only(in_first_caption(real(), b"Bold &#xD835;&#xDC00; and &#55349;&#56320;. "))
    assert caption_of(article, "fig1").startswith("Bold \U0001d400 and \U0001d400. ")
    assert article.losses == [] and "2 surrogate pairs" in article.warnings[0]


@pytest.mark.parametrize("ref", [b"&#1;", b"&#x1F;", b"&#0;", b"&#x8;", b"&#xFFFE;", b"&#x110000;", b"&#99999999999;"])
def test_character_references_xml_forbids_never_lose_the_article(ref: bytes) -> None:
    data = in_first_caption(real(), b"A" + ref + b"B. ")
    # also in a title, a label and a cited paragraph
    data = data.replace(b"<label>Figure 2.</label>", b"<label>Figure" + ref + b" 2.</label>", 1)
    data = data.replace(b"<article-title>", b"<article-title>T" + ref, 1)
    data = data.replace(b"Tilted and untilted", b"Tilted" + ref + b" and untilted", 1)
    article = only(data)
    assert summary(article)[:2] == summary(REFERENCE)[:2]
    assert article.losses == [] and len(article.warnings) == 1
    assert not [t for t in texts(article) if CONTROL.search(t)]
    assert caption_of(article, "fig1").startswith(("AB. ", "A\ufffdB. "))
    assert [f.label for f in article.figures][1] in ("Figure 2", "Figure\ufffd 2")


def test_raw_control_bytes_are_removed_with_a_warning() -> None:
    article = only(in_first_caption(real(), b"x\x01y\x0bz\x00. "))
    assert caption_of(article, "fig1").startswith("xyz. ")
    assert article.warnings == ["3 control characters (bytes below 0x20) removed"] and article.losses == []


def test_control_characters_xml_allows_are_stripped_from_every_text() -> None:
    # C1 controls and DEL are legal XML 1.0: the parse is strict, the texts are cleaned anyway
    data = in_first_caption(real(), b"a&#x84;b&#x9F;c\x7fd\xc2\x80e&#x85;f. ")  # NEL is a line break
    data = data.replace(b"<article-title>", b"<article-title>&#x90;", 1)
    data = data.replace(b"Tilted and untilted", b"Tilted&#x81; and untilted", 1)
    article = only(data)
    assert article.warnings == [] and article.losses == []
    assert not [t for t in texts(article) if CONTROL.search(t)]
    assert caption_of(article, "fig1").startswith("abcde f. ")
    assert any(c.text.startswith("Tilted and untilted") for c in article.citances)


def test_bytes_that_are_not_utf8_are_read_as_windows_1252() -> None:
    article = only(in_first_caption(real(), "Caf\xe9 \x93quoted\x94. ".encode("latin-1")))
    assert caption_of(article, "fig1").startswith("Café “quoted”. ")
    assert article.warnings == ["3 bytes not valid in UTF-8 read as Windows-1252"] and article.losses == []


def test_surrogates_encoded_as_utf8_bytes_are_joined_or_replaced() -> None:
    pair = "\U0001d400".encode("utf-16-le").decode("utf-16-le", "surrogatepass")
    cesu = "".join(chr(0xD835) + chr(0xDC00) for _ in pair[:1]).encode("utf-8", "surrogatepass")
    lone = "\ud800".encode("utf-8", "surrogatepass")
    article = only(in_first_caption(real(), b"P" + cesu + b" L" + lone + b". "))
    assert caption_of(article, "fig1").startswith("P\U0001d400 L\ufffd. ")
    assert article.losses == []


def test_a_str_with_lone_surrogates_is_read() -> None:
    text = in_first_caption(real(), b"S. ").decode().replace("S. ", "S\ud800. ", 1)
    article = only(text)
    assert caption_of(article, "fig1").startswith("S\ufffd. ")
    # a decoded document keeps no encoding: its declaration (UTF-16 here) and BOM are ignored
    decoded = "\ufeff" + real().decode().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    assert summary(only(decoded)) == summary(REFERENCE) and only(decoded).warnings == []


@pytest.mark.parametrize(
    "encode",
    [
        lambda x: b"\xff\xfe" + x.encode("utf-16-le"),
        lambda x: b"\xfe\xff" + x.encode("utf-16-be"),
        lambda x: x.encode("utf-16-le"),  # no BOM: the NUL bytes tell
        lambda x: x.encode("utf-16-be"),
        lambda x: x.encode("utf-32"),
        lambda x: b"\xef\xbb\xbf" + x.encode("utf-8"),
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32-bom", "utf8-bom"],
)
@pytest.mark.parametrize("declared", ["UTF-16", "UTF-8", None])
def test_utf16_utf32_and_boms_read_like_utf8(encode, declared: str | None) -> None:  # type: ignore[no-untyped-def]
    body = real().decode()
    body = body[body.index("?>") + 2 :]
    decl = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    article = only(encode(decl + body))
    assert summary(article) == summary(REFERENCE)
    assert article.warnings == [] and article.losses == []


def test_a_utf16_declaration_on_8bit_bytes_is_ignored_with_a_warning() -> None:
    data = real().replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1)
    article = only(data)
    assert summary(article) == summary(REFERENCE)
    assert article.warnings == ["declared encoding UTF-16 does not match the 8-bit bytes: read as UTF-8"]


def test_utf16_input_is_sniffed_as_jats_by_the_sources(tmp_path: Path) -> None:
    from harvester.sources import local, s3_bucket

    text = real().decode()
    variants = {
        "le-bom.xml": b"\xff\xfe" + text.encode("utf-16-le"),
        "be-bom.xml": b"\xfe\xff" + text.encode("utf-16-be"),
        "le.xml": text.replace("UTF-8", "UTF-16").encode("utf-16-le"),
        "utf8-bom.xml": b"\xef\xbb\xbf" + text.encode(),
    }
    for name, data in variants.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert local._looks_like_jats(path) and local._looks_like_xml(path), name
        assert s3_bucket._looks_like_jats(path) is None, name
        bundles = list(local.iter_local_bundles([path], tmp_path / "work"))
        assert [type(b).__name__ for b in bundles] == ["ArticleBundle"], (name, bundles)
        assert summary(only(path.read_bytes())) == summary(REFERENCE), name
    # and what is not JATS still is not, in any encoding
    assert sniff_jats("<html><body/></html>".encode("utf-16")).reason == "no <article> element near its start"
    assert str(sniff_jats("%PDF-1.4".encode("utf-16")).reason).startswith("it does not start with '<'")
    assert sniff_jats(b"\xff\xfe" + " \n".encode("utf-16-le")).reason == "the file is empty"
    assert not sniff_jats(b'{"a": 1}').is_xml


def test_entities_html_knows_are_read_and_unknown_ones_are_a_loss() -> None:
    doctype = (
        b'<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.1d1 20130915//EN"'
        b'  "JATS-archivearticle1.dtd">'
    )
    data = in_first_caption(real(), b"A&lsqb;1&rsqb;&hyphen;B &mdash; &unknownthing; &unknownthing; end. ")
    assert doctype in data
    article = only(data)
    assert caption_of(article, "fig1").startswith("A[1]\u2010B \u2014 end. ")
    (loss,) = article.losses
    assert loss.startswith("text of 2 entity references missing (&unknownthing; ×2)")
    # without any DOCTYPE an undeclared entity is an XML error: read as if the DTD were declared
    bare = only(data.replace(doctype, b"").replace(b"&unknownthing; &unknownthing; ", b""))
    assert caption_of(bare, "fig1").startswith("A[1]\u2010B \u2014 end. ")
    assert bare.warnings == [] and bare.losses == []


def test_digits_int_cannot_read_are_no_number() -> None:
    # "²".isdigit() is True, int("²") raises
    data = real().replace(b"<article-meta>", "<article-meta><article-version>²</article-version>".encode(), 1)
    data = re.sub(rb"<day>\d+</day>", "<day>³</day>".encode(), data, count=1)
    article = only(data)
    assert article.version is None and article.pub_date is not None
    # int() refuses a number of 4,300 digits or more: a label, a reference or an id holding one
    long = b"9" * 5000
    data = real().replace(b"<label>Figure 2.</label>", b"<label>Figure " + long + b".</label>", 1)
    data = data.replace(b">Figure 2A<", b">Figure " + long + b"A<", 1)
    data = data.replace(b'<label>Figure 3.</label>', b"").replace(b'"fig3"', b'"fig' + long + b'"')
    article = only(data)
    assert summary(article)[:2] == summary(REFERENCE)[:2]


def test_a_bare_ampersand_or_less_than_is_escaped_with_a_warning() -> None:
    article = only(in_first_caption(real(), b"R&D and P&amp;G done. "))
    assert caption_of(article, "fig1").startswith("R&D and P&G done. ")
    assert article.warnings == ["1 bare ampersand escaped as &amp;"] and article.losses == []
    article = only(in_first_caption(real(), b"p <0.05, x < y, a <= b, c <- d. "))
    assert caption_of(article, "fig1").startswith("p <0.05, x < y, a <= b, c <- d. ")
    assert article.warnings == ["4 bare less-than signs escaped as &lt;"] and article.losses == []


# --- item 3: recovered parses that dropped content ---------------------------------------------

_DOCTYPE = re.compile(rb"<!DOCTYPE[^>]*>")


def with_internal_subset(data: bytes, subset: str) -> bytes:
    return _DOCTYPE.sub(f"<!DOCTYPE article [{subset}]>".encode(), data, count=1)


def billion_laughs() -> bytes:
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    )
    return in_first_caption(with_internal_subset(real(), lol), b"Laugh &lol9; here. ")


def billion_laughs_in_an_attribute() -> bytes:
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    )
    return with_internal_subset(real(), lol).replace(b'<fig id="fig1"', b'<fig lol="&lol9;" id="fig1"', 1)


def quadratic_blowup() -> bytes:
    # one ~50 kB entity referenced 40,000 times: 2 GB if expanded
    subset = f'<!ENTITY a "{"A" * 50_000}">'
    return in_first_caption(with_internal_subset(real(), subset), b"&a;" * 40_000 + b" end. ")


def deep_nesting() -> bytes:
    n = 100_000
    return real().replace(b"<body>", b"<body><p>" + b"<italic>" * n + b"deep" + b"</italic>" * n + b"</p>", 1)


def huge_text_node() -> bytes:
    # past libxml2's 10 MB text limit (without XML_PARSE_HUGE): recover mode would stop there
    return in_first_caption(real(), "wörd ".encode() * 2_000_000)


def truncated() -> bytes:
    data = real()
    return data[: len(data) // 2]


HOSTILE = {
    "billion_laughs": billion_laughs,
    "billion_laughs_in_an_attribute": billion_laughs_in_an_attribute,
    "quadratic_blowup": quadratic_blowup,
    "deep_nesting": deep_nesting,
    "huge_text_node": huge_text_node,
    "truncated": truncated,
}

_CHILD = """
import json, resource, sys, time, importlib.util
spec = importlib.util.spec_from_file_location("hostile", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
from harvester.jats import JatsError, parse_jats
data = mod.HOSTILE[sys.argv[2]]()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    found = [{"figures": len(a.figures), "citances": len(a.citances), "losses": a.losses,
              "warnings": a.warnings} for a in parse_jats(data)]
    error = None
except JatsError as exc:
    found, error = None, f"JatsError: {exc}"
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"articles": found, "error": error, "seconds": seconds, "grew_mb": (after - before) / 1024,
                  "peak_mb": after / 1024}))
"""


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_cheap_and_every_kept_article_names_its_loss(case: str) -> None:
    # in a child process, so that its peak memory is its own
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, __file__, case], capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).parents[1],
    )
    assert run.returncode == 0, run.stderr[-2000:]  # nothing but JatsError escapes
    result = json.loads(run.stdout)
    assert result["seconds"] < 3.0, result
    assert result["grew_mb"] < 100, result
    if result["articles"] is None:
        assert result["error"].startswith("JatsError")
        return
    assert result["articles"], result
    for article in result["articles"]:
        assert article["losses"], (case, article)
        assert all("\n" not in reason for reason in article["losses"])
    if case != "truncated":  # what comes after the damage is kept too
        assert [a["figures"] for a in result["articles"]] == [len(REFERENCE.figures)], result


def test_losses_name_their_cause() -> None:
    (bomb,) = parse_jats(billion_laughs())
    assert bomb.losses == [
        (
            "text of 1 entity reference missing (&lol9;): entities declared in a document or its DTD are never "
            "expanded, only HTML character names are read"
        )
    ]
    assert bomb.warnings[0].startswith("the DOCTYPE's internal subset (entity declarations) was ignored")
    assert caption_of(bomb, "fig1").startswith("Laugh here. ")
    (quad,) = parse_jats(quadratic_blowup())
    assert quad.losses[0].startswith("text of 40000 entity references missing (&a; ×40000)")
    (deep,) = parse_jats(deep_nesting())
    (loss,) = deep.losses
    assert re.fullmatch(
        r"elements nested deeper than 200 levels \(libxml2 allows 256\) from line 1 on: 99\d\d\d elements were "
        r"flattened, their text kept and their markup lost", loss
    )
    assert summary(deep)[:2] == summary(REFERENCE)[:2]
    (huge,) = parse_jats(huge_text_node())
    assert huge.losses == [
        (
            "1 text node(s) or attribute value(s) longer than libxml2's 10 MB limit from line 1 on: each cut to its "
            "first and last 500 kB, the middle lost"
        )
    ]
    assert summary(huge)[:2] == summary(REFERENCE)[:2]
    assert caption_of(huge, "fig1").startswith("wörd wörd") and " … " in caption_of(huge, "fig1")
    (cut,) = parse_jats(truncated())
    (loss,) = cut.losses
    assert loss.startswith("the file ends before </article> (truncated?): the article is kept up to where the XML")
    assert 0 < len(cut.figures) < len(REFERENCE.figures)


def test_a_truncated_articleset_loses_only_its_last_article() -> None:
    text = PLOS.read_text()
    article = text[text.index("<article ") :]
    data = f'<?xml version="1.0"?>\n<pmc-articleset>\n{article}\n{article[: len(article) // 2]}'.encode()
    first, last = parse_jats(data)
    assert first.losses == [] and len(first.figures) == len(only(PLOS.read_bytes()).figures)
    assert last.losses and last.losses[0].startswith("the file ends before </pmc-articleset> (truncated?)")


def test_malformed_xml_in_the_middle_is_a_loss() -> None:
    data = real().replace(b"<title>", b"<title><bold>", 1)  # an element never closed
    (article,) = parse_jats(data)
    (loss,) = article.losses
    assert loss.startswith("malformed XML at line 1, column ") and "read in recovery mode" in loss


def test_randomly_damaged_articles_raise_nothing_but_jats_error() -> None:
    import random

    rng = random.Random(11)
    sources = [p.read_bytes() for p in (ELIFE, PLOS, FIXTURES / "PMC2231364.xml")]
    snippets = [b"&#xD800;", b"&#1;", b"\x00", b"\xff", b"\xed\xa0\x80", b"&", b"<", b"&foo;", b"]]>", b"<!--",
                b"<![CDATA[", b"</p>", b"<p>", b'"', b"&#x110000;", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;",
                b"<xref ref-type='fig' rid='fig1'>", b"</caption>", b"<table-wrap-foot><fn>", b"\xfe\xff"]
    for _ in range(150):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data) or 1)
            op = rng.random()
            if op < 0.5:
                data[pos:pos] = rng.choice(snippets)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, 300)]
            elif op < 0.8:
                data = data[:pos]
            elif op < 0.9:
                data[pos : pos + 1] = bytes([rng.randrange(256)])
            else:
                data = bytearray(bytes(data).decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-32"])))
        try:
            articles = parse_jats(bytes(data))
        except JatsError as error:
            assert "undecodable" not in str(error)
            continue
        for article in articles:
            assert not [t for t in texts(article) if CONTROL.search(t)]


def test_not_xml_at_all_is_still_a_jats_error() -> None:
    for data in (b"\xff\xfe" + "   ".encode("utf-16-le"), "no xml here".encode("utf-16"), b"\x00\x01\x02\x03"):
        with pytest.raises(JatsError):
            parse_jats(data)
