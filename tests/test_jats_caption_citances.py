"""Citances written in captions and table footnotes (issue 11, item 13): another figure's caption,
supplementary-material and media captions, table captions and footnotes cite figures too. Their
section is the caption's context: the label of what the caption belongs to ("Figure 3—figure
supplement 11", "Video 1", "Table 2"), "Table 2 footnote" for a footnote. A figure's caption
citing that figure itself is no citance of it.

Real captions of tests/fixtures articles, and real captions of the eLife kitchen-sink article with
a figure reference added where that article has none of that kind.
"""

from __future__ import annotations

from pathlib import Path

from harvester.jats import parse_jats
from harvester.records import Citance, ParsedArticle

FIXTURES = Path(__file__).parent / "fixtures" / "nxml"
KITCHEN_SINK = FIXTURES / "elife" / "elife-kitchen-sink.xml"


def load(name: str) -> ParsedArticle:
    (article,) = parse_jats((FIXTURES / name).read_bytes(), source_name=name)
    return article


def by_section(article: ParsedArticle, section: str) -> list[Citance]:
    return [c for c in article.citances if c.section == section]


def xref(rid: str, text: str) -> str:
    return f'<xref ref-type="fig" rid="{rid}">{text}</xref>'


def test_an_elife_figure_supplement_caption_cites_its_main_figure_and_siblings() -> None:
    (c,) = by_section(load("elife/elife00013.xml"), "Figure 3—figure supplement 11")
    assert c.text == (
        "Hence, the planar structure of RIF-1 is determined as shown in Fig. 3 and Fig. 3 – Figure Supplements 3-5."
    )
    assert c.figure_ids == ["fig3", "fig3s3", "fig3s4", "fig3s5"]
    assert c.xref_texts == ["Fig. 3", "Fig. 3 – Figure Supplements 3-5"]


def test_a_figure_caption_citing_panels_of_another_figure() -> None:
    article = load("elife/elife00005.xml")
    (c,) = by_section(article, "Figure 3")
    assert c.text == (
        "(A) 3D reconstruction of the ab initio model used for iterative projection-matching "
        "(corresponds to reconstruction 4 in Figure 2C)."
    )
    assert (c.figure_ids, c.panels, c.panels_by_figure) == (["fig2"], ["C"], {"fig2": ["C"]})
    # a main figure's caption pointing at its own supplement
    (s,) = by_section(article, "Figure 9")
    assert s.figure_ids == ["fig9s1"] and s.xref_texts == ["Figure 9—figure supplement 1"]


def test_plos_captions_and_a_supplementary_figure_caption() -> None:
    article = load("plos/journal.pone.0114370.xml")
    (c,) = by_section(article, "Figure 11")
    assert c.panels_by_figure == {"pone.0114370.g010": ["G", "H", "I"]} and c.xref_texts == ["Figs. 10G–10I"]
    assert [x.panels for x in by_section(article, "Figure 13")] == [["A"], ["A", "B", "C", "D"]]
    plos = load("plos/journal.pone.0005723.xml")
    (s3,) = by_section(plos, "Figure S3")  # a <supplementary-material> with its own label
    assert s3.text == "Drawing represents the skeleton visible in plate A (Fig. 1,2)."
    assert s3.figure_ids == ["pone-0005723-g001", "pone-0005723-g002"]
    assert len(by_section(plos, "Figure 1")) == 0


def kitchen_sink_with_references() -> ParsedArticle:
    data = KITCHEN_SINK.read_text()

    def after(anchor: str, insert: str, start: str = "") -> None:
        nonlocal data
        at = data.index(anchor, data.index(start) if start else 0) + len(anchor)
        data = data[:at] + insert + data[at:]

    # Figure 1's own caption citing itself and Figure 2; its source data (a supplementary-material
    # inside that caption) citing Figure 1 panel B
    after(
        "<p>Here is an example of making text display in different colours:",
        f" compare {xref('fig1', 'Figure 1A')} with {xref('fig2', 'Figure 2')}. Self {xref('fig1', 'Figure 1C')} only.",
    )
    after("<p>Strain DBY746 was cultivated under either 2% glucose\n", f" (see {xref('fig1', 'Figure 1B')})")
    # the title of Video 1's caption, a table caption, a table footnote and a chemical structure
    after("<title>This is the title of the video file", f" for {xref('fig2', 'Figure 2')}")
    after("<p>Species tested for colony induction", f" ({xref('fig1', 'Figure 1')})")
    after("<p>RCA &#x3d; rosette colonies absent;", f" shown in {xref('fig2', 'Figure 2D')}.")
    after("<p>This is an example of an externally hosted molecule.", f" It binds as in {xref('fig1', 'Figure 1')}.")
    (article,) = parse_jats(data.encode())
    return article


def test_caption_contexts_on_the_kitchen_sink() -> None:
    article = kitchen_sink_with_references()
    found = {(c.section, c.text): (c.figure_ids, c.panels_by_figure, c.xref_texts) for c in article.citances
             if c.section and c.section.split()[0] in ("Figure", "Video", "Table", "Molecule")
             and c.section != "Figure 3—figure supplement 11"}
    assert found == {
        # Figure 1's caption: the sentence also citing Figure 2 keeps only Figure 2; "Self Figure 1C only." is none
        (
            "Figure 1",
            "Here is an example of making text display in different colours: compare Figure 1A with Figure 2.",
        ): (["fig2"], {}, ["Figure 2"]),
        ("Figure 1—source data 1", "Strain DBY746 was cultivated under either 2% glucose (see Figure 1B) standard."):
            (["fig1"], {"fig1": ["B"]}, ["Figure 1B"]),
        ("Video 1", "This is the title of the video file for Figure 2."): (["fig2"], {}, ["Figure 2"]),
        ("Table 1", "Species tested for colony induction (Figure 1)"): (["fig1"], {}, ["Figure 1"]),
        ("Table 2 footnote", "RCA = rosette colonies absent; shown in Figure 2D."):
            (["fig2"], {"fig2": ["D"]}, ["Figure 2D"]),
        ("Molecule 1", "It binds as in Figure 1."): (["fig1"], {}, ["Figure 1"]),
    }


def article_with(body: str) -> ParsedArticle:
    figs = "".join(f'<fig id="F{i}"><label>Figure {i}</label></fig>' for i in range(1, 4))
    (article,) = parse_jats(f"<article><body><sec><title>Results</title>{body}{figs}</sec></body></article>".encode())
    return article


def test_footnotes_holding_text_directly_and_unlabelled_objects() -> None:
    article = article_with(
        f"<table-wrap id='T1'><caption><p>Values of {xref('F1', 'Fig. 1B')}.</p></caption>"
        f"<table-wrap-foot><fn id='n1'><label>a</label>Measured as in {xref('F2', 'Fig. 2')}.</fn>"
        f"<p>Plain note on {xref('F3', 'Figure 3')}.</p></table-wrap-foot></table-wrap>"
        f"<supplementary-material id='S1'><caption><p>Data of {xref('F1', 'Figure 1')}.</p></caption>"
        "</supplementary-material>"
        f"<media id='V1' mimetype='video'><caption><title>Movie of {xref('F2', 'Figure 2A')}.</title></caption></media>"
        f"<fig-group id='G1'><caption><p>Group of {xref('G1', 'Figure 4')} and {xref('F9', 'Figure 4A')}.</p></caption>"
        f"<fig id='F9'><label>Figure 4A</label></fig></fig-group>"
        f"<p>Body cites {xref('F3', 'Figure 3')}.</p>"
    )
    got = [(c.section, c.text, c.figure_ids) for c in article.citances]
    assert got == [
        ("Table", "Values of Fig. 1B.", ["F1"]),
        ("Table footnote", "Measured as in Fig. 2.", ["F2"]),
        ("Table footnote", "Plain note on Figure 3.", ["F3"]),
        ("Supplementary material", "Data of Figure 1.", ["F1"]),
        ("Video", "Movie of Figure 2A.", ["F2"]),
        ("Results", "Body cites Figure 3.", ["F3"]),
    ], "a group's caption citing the group or its own figures is none"


def test_caption_citances_do_not_change_body_citances() -> None:
    for name in ("elife/elife00005.xml", "elife/elife00013.xml", "plos/journal.pone.0114370.xml"):
        article = load(name)
        labels = {f.label for f in article.figures}
        body = [c for c in article.citances if c.section not in labels]
        assert all(c.figure_ids for c in article.citances)
        # every figure-caption citance names another figure than the caption's own
        for figure in article.figures:
            for c in by_section(article, figure.label or "?"):
                assert figure.jats_id not in c.figure_ids, (name, figure.label, c.text)
        assert body, name
