"""Clean text from JATS mixed content: captions, titles and cited paragraphs."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from harvester.jats.secure_xml import find_articles, parse_xml
from harvester.jats.text import (
    CAPTION_SKIP,
    TITLE_SKIP,
    clean_text,
    clean_text_walk,
    flatten_block,
    formula_text,
    tex_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "nxml"
MML = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'


def el(xml: str) -> etree._Element:
    return parse_xml(f'<article xmlns:xlink="http://www.w3.org/1999/xlink" {MML}>{xml}</article>')[0][0]


def test_styling_is_flattened_and_whitespace_normalised() -> None:
    caption = el("<caption><p>Growth of <italic>E.\n   coli</italic> at 37<sup>o</sup>C in CO<sub>2</sub>.</p></caption>")
    assert clean_text(caption) == "Growth of E. coli at 37oC in CO2."


def test_blocks_are_separated_by_a_space() -> None:
    caption = el("<caption><title>Title.</title><p>First.</p><p>Second<list><list-item><p>one</p></list-item>"
                 "<list-item><p>two</p></list-item></list></p></caption>")
    assert clean_text(caption) == "Title. First. Second one two"


def test_caption_skips_graphics_and_supplementary_files() -> None:
    caption = el(
        '<caption><p>Cells <inline-graphic xlink:href="x.gif"/>shown.</p><p><supplementary-material>'
        "<caption><p>Source data</p></caption></supplementary-material></p></caption>"
    )
    assert clean_text(caption, skip=CAPTION_SKIP) == "Cells shown."


def test_mathml_is_rendered_readably_and_annotations_dropped() -> None:
    caption = el(
        "<caption><p>Rate <inline-formula><mml:math><mml:semantics><mml:msup><mml:mi>x</mml:mi>"
        "<mml:mn>2</mml:mn></mml:msup><mml:annotation encoding='TeX'>x^2</mml:annotation>"
        "</mml:semantics></mml:math></inline-formula> over <inline-formula><mml:math><mml:mfrac>"
        "<mml:mi>a</mml:mi><mml:mrow><mml:mi>b</mml:mi><mml:mo>+</mml:mo><mml:mn>1</mml:mn></mml:mrow>"
        "</mml:mfrac></mml:math></inline-formula>.</p></caption>"
    )
    assert clean_text(caption) == "Rate x^2 over a/(b+1)."


def test_tex_math_loses_its_latex_document_wrapper() -> None:
    source = r"\documentclass[12pt]{minimal}\usepackage{amsmath}\begin{document}$$\alpha + 1$$\end{document}"
    assert tex_text(source) == r"\alpha + 1"
    formula = el(f"<inline-formula><alternatives><tex-math>{source}</tex-math>"
                 '<inline-graphic xlink:href="f.gif"/></alternatives></inline-formula>')
    assert formula_text(formula) == r"\alpha + 1"


def test_titles_drop_footnote_markers() -> None:
    title = el('<article-title>Crows in Vienna<xref ref-type="fn" rid="fn1">1</xref></article-title>')
    assert clean_text(title, skip=TITLE_SKIP) == "Crows in Vienna"


def test_unexpanded_html_entities_become_characters() -> None:
    # the DTD is declared but never loaded, so &nbsp; stays an entity reference node
    root, warnings = parse_xml(
        b'<!DOCTYPE article PUBLIC "-//NLM//DTD JATS" "JATS-archivearticle1.dtd">'
        b"<article><p>a&nbsp;b &amp; c&eacute;</p></article>"
    )
    assert warnings == []
    assert clean_text(root[0]) == "a b & c\u00e9"  # the no-break space is whitespace, collapsed


def test_flatten_block_records_xref_spans_and_cuts_nested_blocks() -> None:
    p = el(
        '<p>Cells grew (<xref ref-type="fig" rid="F1">Fig. <bold>1</bold>A</xref>) and '
        '<xref ref-type="bibr" rid="B2">[2]</xref> died<fig id="F9"><caption><p>Not text</p></caption></fig>'
        ' after <xref ref-type="fig" rid="F1 F2">Figs. 1 and 2</xref>.</p>'
    )
    block = flatten_block(p, {"F1", "F2"})
    assert block.text == "Cells grew (Fig. 1A) and [2] died after Figs. 1 and 2."
    assert [(block.text[s:e], rid) for s, e, rid in block.xrefs] == [("Fig. 1A", "F1"), ("Figs. 1 and 2", "F1 F2")]
    assert len(block.breaks) == 1 and block.text[block.breaks[0] :].startswith("after")


def test_fast_and_walking_clean_text_agree_on_real_articles() -> None:
    checked = 0
    for path in sorted(FIXTURES.rglob("*.*ml")):
        root, _ = parse_xml(path.read_bytes())
        for article in find_articles(root):
            for element in article.iter("caption", "title", "label", "p", "article-title"):
                for skip in (CAPTION_SKIP, TITLE_SKIP):
                    assert clean_text(element, skip=skip) == clean_text_walk(element, skip=skip), (
                        f"{path.name}: {etree.tostring(element)[:200]!r}"
                    )
                    checked += 1
    assert checked > 1000
