"""Untrusted input: XXE, entity bombs, broken and non-XML files, encodings, wrappers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harvester.jats import JatsError, parse_jats
from harvester.jats.secure_xml import without_unused_elements

ARTICLE = b'<article><body><sec><title>R</title><p>Text <xref ref-type="fig" rid="F1">Fig. 1</xref>.</p>' \
    b'<fig id="F1"><label>Figure 1</label><caption><p>Cap.</p></caption></fig></sec></body></article>'


def only(data: bytes):
    (article,) = parse_jats(data)
    return article


def test_xxe_does_not_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<article><front><article-meta><title-group><article-title>T &xxe; end</article-title>'
        "</title-group></article-meta></front></article>"
    ).encode()
    article = only(data)
    assert "TOP-SECRET" not in (article.title or "")
    assert article.title == "T end"


def test_external_dtd_and_parameter_entities_are_not_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "LEAKED">')
    for doctype in (f'<!DOCTYPE article SYSTEM "{dtd}">', f'<!DOCTYPE article [<!ENTITY % p SYSTEM "{dtd}"> %p;]>'):
        data = (doctype + "<article><front><article-meta><title-group><article-title>x &leak; y"
                "</article-title></title-group></article-meta></front></article>").encode()
        assert "LEAKED" not in (only(data).title or "")


def test_billion_laughs_is_cheap_and_harmless() -> None:
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{"".join(f"&lol{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    )
    data = f'<?xml version="1.0"?><!DOCTYPE article [{lol}]><article><body><p>&lol9;</p></body></article>'.encode()
    start = time.perf_counter()
    article = only(data)
    assert time.perf_counter() - start < 1.0
    assert article.figures == [] and article.citances == []


def test_broken_xml_is_recovered_with_a_loss() -> None:
    # recover mode may drop or misplace content: the article is kept, the reason is a loss
    data = ARTICLE.replace(b"<title>R</title>", b"<title>R<bold></title>")
    article = only(data)
    assert article.warnings == []
    (loss,) = article.losses
    assert loss.startswith("malformed XML at line 1, column ") and "Opening and ending tag mismatch" in loss
    assert [f.jats_id for f in article.figures] == ["F1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"%PDF-1.4\x00\x01\x02\xff binary", "not XML"),
        (b'{"json": true}', "not XML"),
        (b"<!DOCTYPE html><html><head><title>x</title></head><body><p>hi</p></body></html>", "HTML"),
        (b'<?xml version="1.0"?><eSearchResult><Count>0</Count></eSearchResult>', "no JATS <article>"),
    ],
)
def test_input_that_is_not_jats_raises_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(JatsError, match=message):
        parse_jats(data, source_name="input.xml")


def test_error_names_the_source() -> None:
    with pytest.raises(JatsError, match=r"PMC1\.xml"):
        parse_jats(b"", source_name="PMC1.xml")


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + ARTICLE,
        '<?xml version="1.0" encoding="UTF-16"?>'.encode("utf-16") + ARTICLE.decode().encode("utf-16")[2:],
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + ARTICLE.replace(b"Cap.", "Cap\xe9.".encode("latin-1")),
        b'<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN"'
        b' "JATS-archivearticle1.dtd">' + ARTICLE,
    ],
    ids=["utf8-bom", "utf16", "latin1", "missing-dtd"],
)
def test_encodings_boms_and_absent_dtds(data: bytes) -> None:
    article = only(data)
    assert article.warnings == []
    assert article.figures[0].caption_text.startswith("Cap")
    assert article.citances[0].figure_ids == ["F1"]


def test_str_input_with_an_encoding_declaration() -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>' + ARTICLE.decode().replace("Cap.", "Capé.")
    assert only(text).figures[0].caption_text == "Capé."  # type: ignore[arg-type]


def test_articleset_gives_one_article_each() -> None:
    data = b"<pmc-articleset>" + ARTICLE + ARTICLE.replace(b'"F1"', b'"G1"') + b"</pmc-articleset>"
    articles = parse_jats(data)
    assert [a.figures[0].jats_id for a in articles] == ["F1", "G1"]
    assert [a.citances[0].figure_ids for a in articles] == [["F1"], ["G1"]]


def test_namespaced_jats_from_oai_pmh_is_read() -> None:
    data = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record><metadata>'
        b'<article xmlns="https://jats.nlm.nih.gov/ns/archiving/1.3/" xmlns:xlink="http://www.w3.org/1999/xlink">'
        + ARTICLE[len(b"<article>") :]
        + b"</metadata></record></GetRecord></OAI-PMH>"
    )
    article = only(data)
    assert [f.label for f in article.figures] == ["Figure 1"]
    assert article.citances[0].section == "R"


def test_reference_lists_and_table_grids_are_cut_before_parsing() -> None:
    data = (
        b"<article><body><table-wrap id='T1'><table><tr><td>x</td></tr></table>"
        b"<table-wrap-foot><p>foot</p></table-wrap-foot></table-wrap></body>"
        b"<back><ref-list><ref-list><ref id='B1'/></ref-list></ref-list><ref-list/><fn-group/></back></article>"
    )
    cut = without_unused_elements(data)
    assert b"<td>" not in cut and b"<ref id" not in cut
    assert b"<table-wrap-foot><p>foot</p>" in cut and b"<ref-list/>" in cut and b"<fn-group/>" in cut


def test_cutting_stops_at_an_unclosed_element() -> None:
    data = b"<article><back><ref-list><ref/></back></article>"
    assert without_unused_elements(data) == data


def test_a_cut_that_breaks_the_xml_falls_back_to_the_whole_file() -> None:
    # "<ref-list>" inside a comment: cutting would unbalance the document
    data = ARTICLE.replace(b"<body>", b"<body><!-- <ref-list> -->") .replace(b"</body>", b"</body><!-- </ref-list> -->")
    article = only(data)
    assert article.warnings == []
    assert [f.jats_id for f in article.figures] == ["F1"]
