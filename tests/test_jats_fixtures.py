"""parse_jats on real articles (tests/fixtures/nxml, see SOURCES.md there): known sentences,
figures and licences, and no crash on any file of the shared fixture store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harvester.jats import JatsError, parse_jats
from harvester.records import Citance, ParsedArticle

FIXTURES = Path(__file__).parent / "fixtures" / "nxml"
SHARED = Path("/work/shared/fixtures/nxml")


def load(name: str) -> ParsedArticle:
    (article,) = parse_jats((FIXTURES / name).read_bytes(), source_name=name)
    return article


def citance(article: ParsedArticle, starts: str) -> Citance:
    found = [c for c in article.citances if c.text.startswith(starts)]
    assert len(found) == 1, f"expected one citance starting {starts!r}, got {[c.text[:80] for c in found]}"
    return found[0]


def test_elife_sentence_with_two_panels_of_one_figure() -> None:
    c = citance(load("elife/elife00005.xml"), "Tilted and untilted image pairs")
    assert c.text == (
        "Tilted and untilted image pairs were collected (Figure 2A), and 20 reference-free 2D class "
        "averages were calculated from the untilted classes (Figure 2B)."
    )
    assert c.section == "Architecture of the PRC2-AEBP2 complex"
    assert (c.figure_ids, c.panels, c.xref_texts) == (["fig2"], ["A", "B"], ["Figure 2A", "Figure 2B"])


def test_elife_printed_range_of_figures() -> None:
    c = citance(load("elife/elife00005.xml"), "We used reference-free 2D classification")
    assert c.figure_ids == ["fig7", "fig8", "fig9", "fig10"]


def test_elife_range_of_figure_supplements() -> None:
    c = citance(load("elife/elife00013.xml"), "Detailed analysis of one- and two-dimensional")
    assert c.figure_ids == [f"fig3s{i}" for i in range(3, 16)] + ["fig3"]
    assert c.panels_by_figure == {"fig3": ["B"]}


def test_plos_panel_ranges_written_with_repeated_numbers() -> None:
    article = load("plos/journal.pone.0114370.xml")
    c = citance(article, "Figs. 7A–7C and 7D–7F show spatial profiles")
    assert c.section == "Glioma cell invasion and efficacy of chemotherapeutic after surgery"
    assert c.figure_ids == ["pone.0114370.g007"]
    assert c.panels == ["A", "B", "C", "D", "E", "F"]
    c = citance(article, "Fig. 11A shows time courses")
    assert c.panels_by_figure == {"pone.0114370.g011": ["A"], "pone.0114370.g010": ["G", "H", "I"]}


def test_plos_range_across_two_xrefs() -> None:
    c = citance(load("plos/journal.pone.0005723.xml"), "The type specimen of G. neglecta")
    assert c.figure_ids == ["pone-0005723-g001", "pone-0005723-g002", "pone-0005723-g003"]
    assert c.section == "Discussion"


def test_bmc_panels_with_repeated_figure_number() -> None:
    c = citance(load("1471-2180-11-174.nxml"), "We observed that, in general, treatments")
    assert (c.figure_ids, c.panels) == (["F3"], ["B", "D"])
    assert c.section == "Manipulation of holin production rate"
    c = citance(load("PMC2231364.xml"), "For the operons, YPO1994-1996 (Figure 2a)")
    assert c.panels == ["A", "B", "C"]


def test_scielo_translations_stay_in_their_article() -> None:
    article = load("scielo/article-abstract-en-sub-articles-pt-es.xml")
    assert [f.context for f in article.figures] == ["body"] * 4 + ["sub-article"] * 8
    ranges = [(c.section, c.figure_ids) for c in article.citances]
    assert ranges == [
        ("Results", ["f1", "f2"]), ("Results", ["f3", "f4"]),
        ("Resultados", ["f5", "f6"]), ("Resultados", ["f7", "f8"]),
        ("Resultados", ["f9", "f10"]), ("Resultados", ["f11", "f12"]),
    ]
    assert article.figures[4].label == "Figura 1"
    assert article.figures[0].graphic_hrefs[0].endswith("93646bf6194a04743642b91240adef621257b46f.jpg")


def test_elife_kitchen_sink_structure() -> None:
    article = load("elife/elife-kitchen-sink.xml")
    figs = {f.jats_id: f for f in article.figures}
    assert figs["sfig1"].parent_jats_id == "fig1" and figs["sfig1"].context == "fig-group"
    assert figs["fig5"].context == "sub-article" and figs["fig5"].label == "Author response image 1"
    assert figs["fig9"].context == "app"  # back/app-group/app/boxed-text/.../fig: an appendix figure
    assert figs["fig1"].caption_title == "Rosette colony development in S. rosetta is regulated by A. machipongonensis."
    assert "Source data" not in figs["fig1"].caption_text and "title of the source data" not in figs["fig1"].caption_text
    c = citance(article, "On p. 8, paragraph 1, we clarify")
    assert c.figure_ids == ["fig5"] and c.section == "Author response"  # the sub-article title


def test_pmc_elife_child_figures_without_group() -> None:
    article = load("elife-56337.nxml")
    parents = {f.jats_id: f.parent_jats_id for f in article.figures}
    assert parents["fig1s3"] == "fig1" and parents["fig2s1"] == "fig2" and parents["fig3"] is None
    c = citance(article, "While the majority of KRAB-ZFPs are expressed at low levels")
    assert (c.figure_ids, c.panels) == (["fig1s1"], ["A"])


@pytest.mark.parametrize(
    ("name", "pmcid", "year", "license_code", "journal"),
    [
        ("PMC6398430.nxml", "PMC6398430", 2019, "CC BY", "Behavioral Ecology"),
        ("1471-2180-11-174.nxml", "PMC3166277", 2011, "CC BY", "BMC Microbiology"),
        ("elife-56337.nxml", "PMC7289599", 2020, "CC0", "eLife"),
        ("ehp-116-1694.nxml", "PMC2599765", 2008, "PD", "Environmental Health Perspectives"),
        ("pone.0000217.nxml", "PMC1790863", 2007, "CC BY", "PLoS ONE"),
        ("europepmc/10_1042_bst20253065.xml", "PMC12599256", 2025, "CC BY", "Biochemical Society Transactions"),
        ("europepmc/PMC13238370.xml", "PMC13238370", 2026, "CC BY", "Anatomia, Histologia, Embryologia"),
        ("plos/journal.pone.0114370.xml", None, 2015, "CC BY", "PLOS ONE"),
    ],
)
def test_metadata_of_real_articles(name: str, pmcid: str | None, year: int, license_code: str, journal: str) -> None:
    article = load(name)
    assert (article.pmcid, article.year, article.license_code, article.journal) == (pmcid, year, license_code, journal)
    assert article.title and article.doi and article.warnings == []


def test_floats_group_figures() -> None:
    article = load("ehp-116-1694.nxml")
    assert [f.context for f in article.figures] == ["floats-group"] * 3
    assert citance(article, "Gene transcripts for TRα were elevated 37%").panels == ["A"]


def test_articleset_built_from_two_real_files() -> None:
    def body(name: str) -> bytes:
        data = (FIXTURES / name).read_bytes()
        return re.sub(rb"^.*?(?=<article[\s>])", b"", data, count=1, flags=re.DOTALL)

    data = b'<?xml version="1.0"?><pmc-articleset>' + body("PMC6398430.nxml") + body("pone.0000217.nxml") + b"</pmc-articleset>"
    articles = parse_jats(data)
    assert [a.pmcid for a in articles] == ["PMC6398430", "PMC1790863"]
    assert [len(a.figures) for a in articles] == [len(load("PMC6398430.nxml").figures), len(load("pone.0000217.nxml").figures)]


def _all_files() -> list[Path]:
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".xml", ".nxml"))
    if SHARED.is_dir():
        files += sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".xml", ".nxml"))
    return files


@pytest.mark.parametrize("path", _all_files(), ids=lambda p: str(p).replace("/work/shared/fixtures/", "shared/"))
def test_no_fixture_crashes_and_output_is_consistent(path: Path) -> None:
    try:
        articles = parse_jats(path.read_bytes(), source_name=str(path))
    except JatsError:  # not JATS at all is a clean, expected outcome
        return
    for article in articles:
        ids = {f.jats_id for f in article.figures if f.jats_id}
        assert [f.ordinal for f in article.figures] == list(range(len(article.figures)))
        for c in article.citances:
            assert c.text and c.text == " ".join(c.text.split()), c.text
            assert c.figure_ids and set(c.figure_ids) <= ids, (c.text, c.figure_ids)
            assert all(p.isupper() and len(p) == 1 for p in c.panels)
            assert set(c.panels_by_figure) <= set(c.figure_ids)


def test_cutting_unused_elements_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from harvester.jats import secure_xml

    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".xml", ".nxml"))
    fast = [[dataclasses.asdict(a) for a in parse_jats(p.read_bytes())] for p in files]
    monkeypatch.setattr(secure_xml, "without_unused_elements", lambda data: data)
    slow = [[dataclasses.asdict(a) for a in parse_jats(p.read_bytes())] for p in files]
    for path, a, b in zip(files, fast, slow):
        assert a == b, path.name
