"""Fixes from the review of citances and figures on real articles, on short synthetic examples:
sentence starts (symbols, quantities, glued citations, display formulas), sub-article sections,
figure contexts and formula text (invisible operators, <mfenced>)."""

from __future__ import annotations

import pytest

from harvester.jats import parse_jats
from harvester.jats.secure_xml import parse_xml
from harvester.jats.sentences import SentenceSplitter, split_sentences
from harvester.jats.text import clean_text, flatten_block, formula_text
from harvester.records import Citance

NS = 'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML"'
FIGS = "".join(f'<fig id="F{i}"><label>Figure {i}</label></fig>' for i in range(1, 8))


def sentences(text: str, **kwargs) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, **kwargs)]


def citances(body: str, *, extra: str = "") -> list[Citance]:
    data = f"<article {NS}><front/><body>{body}{FIGS}</body>{extra}</article>"
    (article,) = parse_jats(data.encode())
    return article.citances


def fig(rid: str, text: str) -> str:
    return f'<xref ref-type="fig" rid="{rid}">{text}</xref>'


def bibr(rid: str, text: str) -> str:
    return f'<xref ref-type="bibr" rid="{rid}">{text}</xref>'


def math(inner: str) -> str:
    return f"<inline-formula><mml:math>{inner}</mml:math></inline-formula>"


# --- S1: a sentence may open with a lowercase symbol or a quantity ---------------------------


@pytest.mark.parametrize(
    "second",
    [
        "p53 levels rose.",
        "mRNA levels rose.",
        "nSyt::GFP localizes to the arbor.",
        "xI50 values were lower.",
        "siRNA knock-down had no effect.",
        "95% confidence intervals were computed.",
        "10 mM NaCl was added.",
        "0.5 µg of protein was loaded.",
        "30 min later the cells died.",
        "37 °C was used throughout.",
    ],
)
def test_a_lowercase_symbol_or_a_quantity_opens_a_sentence(second: str) -> None:
    assert sentences(f"Growth stopped (Fig. 3). {second}") == ["Growth stopped (Fig. 3).", second]


@pytest.mark.parametrize(
    "sentence",
    [
        "Strains of E. coli and B. subtilis were used.",
        "As shown by Smith et al. mRNA levels vary.",
        "Several markers, e.g. p53 and mTOR, were stained.",
        "It was approx. 5 mM and ca. 30 min long.",
        "Measured at 5 min. after onset it rose.",
        "The mean was 3.5 mM in all runs.",
        "We saw it in Fig. 2 and in Ref. 5 mM runs.",
        "The 3 patients were treated.",
    ],
)
def test_abbreviations_initials_and_prose_still_continue_the_sentence(sentence: str) -> None:
    assert sentences(f"{sentence} Next one.") == [sentence, "Next one."]


def test_a_lowercase_word_without_capitals_or_digits_continues_the_sentence() -> None:
    assert sentences("Cells grew (Fig. 2). then they died.") == ["Cells grew (Fig. 2). then they died."]


def test_a_bare_number_still_opens_no_sentence_but_fig_2_3d_still_splits() -> None:
    assert sentences("See Figs. 2 and 3. 20 more were added.") == ["See Figs. 2 and 3. 20 more were added."]
    assert sentences("It is in Fig. 2. 3D maps agree.") == ["It is in Fig. 2.", "3D maps agree."]


def test_a_symbol_after_a_single_capital_ends_the_sentence() -> None:
    # an initial is followed by a surname or a species name, never by "mRNA"
    assert sentences("Levels of vitamin D. mRNA levels rose.") == ["Levels of vitamin D.", "mRNA levels rose."]


def test_citances_split_at_a_symbol_start_with_their_own_panels() -> None:
    body = (
        f"<p>The arbors converge in T2 ({fig('F5', 'Figure 5A,B')}). <italic>nSyt</italic>::GFP localizes "
        f"to the lateral arbor ({fig('F5', 'Figure 5C')}).</p>"
    )
    found = citances(body)
    assert [c.text for c in found] == [
        "The arbors converge in T2 (Figure 5A,B).",
        "nSyt::GFP localizes to the lateral arbor (Figure 5C).",
    ]
    assert [c.panels_by_figure for c in found] == [{"F5": ["A", "B"]}, {"F5": ["C"]}]


def test_citances_split_at_a_percentage() -> None:
    body = f"<p>Most cells lived ({fig('F1', 'Fig. 1')}). 20% of cells died ({fig('F2', 'Fig. 2')}).</p>"
    assert [(c.text, c.figure_ids) for c in citances(body)] == [
        ("Most cells lived (Fig. 1).", ["F1"]),
        ("20% of cells died (Fig. 2).", ["F2"]),
    ]


# --- S4: citation xrefs glued to a full stop --------------------------------------------------


def test_citation_spans_after_a_full_stop_stay_with_their_sentence() -> None:
    text = "It grew in vivo.3335 However it died."
    cut = text.index("3335")
    assert sentences(text) == [text]  # four digits are no flattened citation on their own
    spans = [(cut, cut + 2), (cut + 2, cut + 4)]
    assert sentences(text, citations=spans) == ["It grew in vivo.3335", "However it died."]


def test_citation_chain_joined_by_commas_and_dashes() -> None:
    text = "It grew.4,107–1099 Then it died."
    a = text.index("4,")
    b = text.index("107")
    c = text.index("1099")
    spans = [(a, a + 1), (b, b + 3), (c, c + 4)]
    assert sentences(text, citations=spans) == ["It grew.4,107–1099", "Then it died."]


def test_glued_citation_xrefs_end_the_sentence_before_a_capitalised_word() -> None:
    body = (
        f"<p>Myeloid cells predict response to immunotherapy.{bibr('R33', '33')}{bibr('R35', '35')} However, "
        f"other studies disagree ({fig('F2', 'figure 2')}).</p>"
    )
    (c,) = citances(body)
    assert c.text == "However, other studies disagree (figure 2)."


def test_glued_citation_xrefs_before_a_lowercase_word_do_not_end_the_sentence() -> None:
    body = f"<p>Values of approx.{bibr('R1', '1234')} cells are shown in {fig('F2', 'Fig. 2')}.</p>"
    (c,) = citances(body)
    assert c.text == "Values of approx.1234 cells are shown in Fig. 2."


def test_flattened_superscript_after_a_figure_xref_is_no_decimal() -> None:
    body = (
        f"<p>Cells were counted, as in Fig. {fig('F6', '6')}.<sup>12</sup> The rest ({fig('F7', 'Fig. 7')}) "
        "differed.</p>"
    )
    assert [c.text for c in citances(body)] == ["Cells were counted, as in Fig. 6.12", "The rest (Fig. 7) differed."]


@pytest.mark.parametrize("space", [" ", "\n   "])  # the fast path and the whitespace-collapsing one
def test_flatten_block_records_glued_citation_spans_and_formula_breaks(space: str) -> None:
    xml = (
        f"<article {NS}><p>As in {bibr('B0', 'Smith')}.{space}Done.<sup>{bibr('B1', '3')},{bibr('B2', '4')}</sup>"
        f" Next{space}{fig('F1', 'Fig. 1')} so<disp-formula><graphic xlink:href='e'/></disp-formula>{space}Then"
        f" it<disp-formula><graphic xlink:href='e'/></disp-formula>{space}where x.</p></article>"
    )
    block = flatten_block(parse_xml(xml.encode())[0][0], {"F1"})
    assert block.text == "As in Smith. Done.3,4 Next Fig. 1 so Then it where x."
    # only citations glued to a full stop (or to such a citation) are recorded
    assert [block.text[s:e] for s, e in block.citations] == ["3", "4"]
    assert [block.text[s:e] for s, e, _ in block.xrefs] == ["Fig. 1"]
    assert [block.text[k:] for k in block.breaks] == ["Then it where x."]


def test_sentence_at_uses_citation_spans() -> None:
    text = "A is high.1213 B is low."
    cut = text.index("1213")
    splitter = SentenceSplitter(text, citations=[(cut, cut + 2), (cut + 2, cut + 4)])
    b = text.index("B is")
    assert text.__getitem__(slice(*splitter.sentence_at(b, b + 1))) == "B is low."


# --- S5: a display formula followed by a capitalised word ends the sentence -------------------


def test_a_display_formula_followed_by_a_capital_ends_the_sentence() -> None:
    body = (
        f'<p>The rate is constant. Therefore,<disp-formula><graphic xlink:href="e1"/><label>(5)</label></disp-formula>'
        f"Since most runners differ, we plot it in {fig('F3', 'Figure 3')}.</p>"
    )
    (c,) = citances(body)
    assert c.text == "Since most runners differ, we plot it in Figure 3."


def test_a_display_formula_followed_by_lowercase_continues_the_sentence() -> None:
    body = (
        "<p>The rate is<disp-formula><mml:math><mml:mi>r</mml:mi><mml:mo>=</mml:mo><mml:mi>k</mml:mi></mml:math>"
        f"</disp-formula> where k is shown in {fig('F3', 'Figure 3')}.</p>"
    )
    (c,) = citances(body)
    assert c.text == "The rate is r=k where k is shown in Figure 3."


# --- X1: sentences of sub-articles take the sub-article's title --------------------------------


def test_sub_article_text_without_a_section_takes_the_sub_article_title() -> None:
    extra = (
        "<sub-article id='SA1' article-type='decision-letter'><front-stub><title-group>"
        "<article-title>Decision letter</article-title></title-group></front-stub>"
        f"<body><p>The side views in {fig('F2', 'Figure 2')} are unclear.</p>"
        f"<sec><title>Major points</title><p>See {fig('F3', 'Figure 3')}.</p></sec></body></sub-article>"
        "<sub-article id='SA2' article-type='reply'><front-stub><title-group>"
        "<article-title>Author <italic>response</italic></article-title></title-group></front-stub>"
        f"<body><p>We changed {fig('F4', 'Figure 4')}.</p></body></sub-article>"
    )
    found = citances(f"<p>Main text cites {fig('F1', 'Figure 1')}.</p>", extra=extra)
    assert [(c.figure_ids, c.section) for c in found] == [
        (["F1"], None),  # the main article's body has no title to fall back to
        (["F2"], "Decision letter"),
        (["F3"], "Major points"),
        (["F4"], "Author response"),
    ]


# --- F3: figure contexts ---------------------------------------------------------------------


def test_appendix_figures_in_boxed_text_and_front_matter_figures() -> None:
    data = f"""<article {NS}><front><article-meta><abstract><p>Graphical abstract
    <fig id="GA"><graphic xlink:href="ga"/></fig></p></abstract></article-meta></front>
    <body><boxed-text><p><fig id="BX"><label>Box 1 figure</label></fig></p></boxed-text></body>
    <back><app-group><app id="app1"><title>Appendix 1</title><boxed-text><sec><p>
    <fig id="AP"><label>Appendix 1—figure 1</label></fig></p></sec></boxed-text></app></app-group></back>
    <sub-article id="SA1"><front-stub><fig id="SF"><label>Image</label></fig></front-stub></sub-article>
    </article>"""
    (article,) = parse_jats(data.encode())
    assert {f.jats_id: f.context for f in article.figures} == {
        "GA": "front", "BX": "boxed-text", "AP": "app", "SF": "sub-article",
    }


# --- F2 / F1: formula text -------------------------------------------------------------------


def el(xml: str):
    return parse_xml(f"<article {NS}>{xml}</article>".encode())[0][0]


def test_invisible_mathml_operators_are_dropped() -> None:
    formula = el(math(
        "<mml:mi>sin</mml:mi><mml:mo>&#x2061;</mml:mo><mml:mi>x</mml:mi><mml:mo>+</mml:mo>"
        "<mml:mn>2</mml:mn><mml:mo>&#x2062;</mml:mo><mml:mi>y</mml:mi><mml:mo>+</mml:mo>"
        "<mml:mi>exp</mml:mi><mml:mo>&#x2061;</mml:mo><mml:mo>(</mml:mo><mml:mi>z</mml:mi><mml:mo>)</mml:mo>"
        "<mml:msub><mml:mi>a</mml:mi><mml:mrow><mml:mi>i</mml:mi><mml:mo>&#x2063;</mml:mo><mml:mi>j</mml:mi>"
        "</mml:mrow></mml:msub>"
    ))
    assert formula_text(formula) == "sin x+2y+exp(z)a_(ij)"


def test_invisible_operators_leave_captions_and_citances() -> None:
    times = math("<mml:mn>2</mml:mn><mml:mo>&#x2062;</mml:mo><mml:mi>x</mml:mi>")
    caption = el(f"<caption><p>Growth as {times} cells.</p></caption>")
    assert clean_text(caption) == "Growth as 2x cells."
    (c,) = citances(f"<p>Growth as {times} cells ({fig('F1', 'Fig. 1')}).</p>")
    assert c.text == "Growth as 2x cells (Fig. 1)."


def test_mfenced_keeps_its_delimiters_and_separators() -> None:
    cases = {
        "<mml:mfenced><mml:mi>a</mml:mi><mml:mi>b</mml:mi></mml:mfenced>": "(a,b)",
        "<mml:mfenced open='[' close=']' separators=';'><mml:mi>a</mml:mi><mml:mi>b</mml:mi>"
        "<mml:mi>c</mml:mi></mml:mfenced>": "[a;b;c]",
        "<mml:mfenced open='{' close='' separators=''><mml:mi>a</mml:mi><mml:mi>b</mml:mi></mml:mfenced>": "{ab",
        "<mml:mfenced separators=', ;'><mml:mi>a</mml:mi><mml:mi>b</mml:mi><mml:mi>c</mml:mi>"
        "<mml:mi>d</mml:mi></mml:mfenced>": "(a,b;c;d)",
    }
    for inner, expected in cases.items():
        assert formula_text(el(math(inner))) == expected, inner


def test_mfenced_around_a_subscript_keeps_the_brackets_of_a_complex_ion() -> None:
    # [Fe(CN)6]3-/4- as PMC writes it: the "(" and "]" come from the mfenced attributes
    formula = el(math(
        "<mml:mrow><mml:mo>[</mml:mo><mml:mtext>Fe</mml:mtext></mml:mrow><mml:msup>"
        "<mml:mfenced close=']' open='('><mml:msub><mml:mrow><mml:mtext>CN</mml:mtext><mml:mo>)</mml:mo>"
        "</mml:mrow><mml:mn>6</mml:mn></mml:msub></mml:mfenced><mml:mrow><mml:mn>3</mml:mn><mml:mo>-</mml:mo>"
        "<mml:mo>/</mml:mo><mml:mn>4</mml:mn><mml:mo>-</mml:mo></mml:mrow></mml:msup>"
    ))
    assert formula_text(formula) == "[Fe(CN)_6]^(3-/4-)"
