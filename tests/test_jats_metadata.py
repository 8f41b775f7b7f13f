"""Article metadata: ids, title, journal, year, licence."""

from __future__ import annotations

import pytest

from harvester.jats import parse_jats
from harvester.jats.metadata import normalise_pmcid

NS = 'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ali="http://www.niso.org/schemas/ali/1.0/"'


def article(meta: str, journal: str = "", article_type: str = "research-article"):
    data = (
        f'<article {NS} article-type="{article_type}"><front><journal-meta>{journal}</journal-meta>'
        f"<article-meta>{meta}</article-meta></front></article>"
    ).encode()
    (parsed,) = parse_jats(data)
    return parsed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("PMC123", "PMC123"), ("pmc123", "PMC123"), ("123", "PMC123"), (" PMC123.2 ", "PMC123"), ("abc", None), (None, None)],
)
def test_pmcid_normalisation(raw: str | None, expected: str | None) -> None:
    assert normalise_pmcid(raw) == expected


@pytest.mark.parametrize(
    ("ids", "pmcid"),
    [
        ('<article-id pub-id-type="pmcid">PMC7289599</article-id>', "PMC7289599"),
        ('<article-id pub-id-type="pmc">7289599</article-id>', "PMC7289599"),
        ('<article-id pub-id-type="pmcaid">7289599</article-id>', "PMC7289599"),
        ('<article-id pub-id-type="pmc">1</article-id><article-id pub-id-type="pmcid">PMC2</article-id>', "PMC2"),
    ],
)
def test_pmcid_from_any_article_id_type(ids: str, pmcid: str) -> None:
    assert article(ids).pmcid == pmcid


def test_ids_title_journal_and_type() -> None:
    parsed = article(
        '<article-id pub-id-type="pmid">32479262</article-id>'
        '<article-id pub-id-type="doi">https://doi.org/10.7554/eLife.56337</article-id>'
        "<title-group><article-title>KRAB <italic>zinc</italic>\n finger<xref ref-type='fn' rid='f1'>*</xref>"
        "</article-title></title-group>",
        journal="<journal-title-group><journal-title>eLife</journal-title></journal-title-group>",
        article_type="review-article",
    )
    assert (parsed.pmid, parsed.doi, parsed.title, parsed.journal, parsed.article_type) == (
        "32479262", "10.7554/eLife.56337", "KRAB zinc finger", "eLife", "review-article",
    )


def test_journal_falls_back_to_abbreviations_and_ids() -> None:
    assert article("", journal="<abbrev-journal-title>PLoS Biol</abbrev-journal-title>").journal == "PLoS Biol"
    assert article("", journal='<journal-id journal-id-type="nlm-ta">Nat Commun</journal-id>').journal == "Nat Commun"
    assert article("").journal is None


@pytest.mark.parametrize(
    ("dates", "year"),
    [
        ('<pub-date pub-type="epub"><year>2019</year></pub-date><pub-date pub-type="ppub"><year>2020</year></pub-date>', 2020),
        ('<pub-date pub-type="collection"><year>2018</year></pub-date><pub-date pub-type="epub"><year>2017</year></pub-date>', 2017),
        ('<pub-date date-type="pub" publication-format="electronic"><day>1</day><year>2021</year></pub-date>', 2021),
        ('<pub-date date-type="pub" publication-format="print"><year>2022</year></pub-date>'
         '<pub-date date-type="pub" publication-format="electronic"><year>2021</year></pub-date>', 2022),
        ('<pub-date><year>2025</year></pub-date>', 2025),
        ('<pub-date pub-type="pmc-release"><year>2030</year></pub-date><pub-date pub-type="collection"><year>2029</year></pub-date>', 2029),
        ('<pub-date pub-type="epub"><string-date>March 3, 2011</string-date></pub-date>', 2011),
        ("", None),
    ],
)
def test_year_prefers_print_then_electronic_then_collection(dates: str, year: int | None) -> None:
    assert article(dates).year == year


@pytest.mark.parametrize(
    ("permissions", "code", "url"),
    [
        ('<license xlink:href="http://creativecommons.org/licenses/by/4.0/"><license-p>x</license-p></license>',
         "CC BY", "http://creativecommons.org/licenses/by/4.0/"),
        ('<license><ali:license_ref>https://creativecommons.org/licenses/by-nc/4.0/</ali:license_ref></license>',
         "CC BY-NC", "https://creativecommons.org/licenses/by-nc/4.0/"),
        ('<license license-type="cc-by"><license-p>Open.</license-p></license>', "CC BY", None),
        ('<license license-type="open-access"><license-p>distributed under the Creative Commons Attribution '
         'Non-Commercial License (<ext-link xlink:href="http://creativecommons.org/licenses/by-nc/3.0">link'
         "</ext-link>)</license-p></license>", "CC BY-NC", "http://creativecommons.org/licenses/by-nc/3.0"),
        ('<license><license-p>This article is licensed under a Creative Commons Attribution 4.0 International '
         "License.</license-p></license>", "CC BY", None),
        ('<license xlink:href="https://creativecommons.org/publicdomain/zero/1.0/"/>', "CC0",
         "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("<copyright-statement>© 2007 Smith et al. This is an open-access article distributed under the terms of "
         "the Creative Commons Attribution License.</copyright-statement>", "CC BY", None),
        ('<license><license-p>Reuse under <ext-link xlink:href="http://www.elsevier.com/terms">terms</ext-link>'
         "</license-p></license>", None, "http://www.elsevier.com/terms"),
        ("<copyright-statement>Copyright © 2002, BMJ</copyright-statement>", None, None),
    ],
)
def test_licence_code_and_url(permissions: str, code: str | None, url: str | None) -> None:
    parsed = article(f"<permissions>{permissions}</permissions>")
    assert (parsed.license_code, parsed.license_url) == (code, url)


def test_missing_front_gives_empty_metadata() -> None:
    (parsed,) = parse_jats(b'<article article-type="editorial"><body><p>Hi</p></body></article>')
    assert parsed.pmcid is None and parsed.title is None and parsed.year is None
    assert parsed.article_type == "editorial"
