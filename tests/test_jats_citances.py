"""Citances: which sentences cite which figures and panels, on small synthetic articles."""

from __future__ import annotations

from harvester.jats import parse_jats
from harvester.records import Citance


def figs(n: int, prefix: str = "F", label: str = "Figure") -> str:
    return "".join(f'<fig id="{prefix}{i}"><label>{label} {i}</label></fig>' for i in range(1, n + 1))


def citances(body: str, *, back: str = "", extra: str = "", front: str = "") -> list[Citance]:
    data = f"<article><front>{front}</front><body>{body}{figs(6)}</body><back>{back}</back>{extra}</article>"
    (article,) = parse_jats(data.encode())
    return article.citances


def xref(rid: str, text: str, ref_type: str = "fig") -> str:
    return f'<xref ref-type="{ref_type}" rid="{rid}">{text}</xref>'


def test_one_citance_per_sentence_with_its_section() -> None:
    (c,) = citances(f"<sec><title>Results</title><p>Cells grew. They died ({xref('F2', 'Fig. 2B')}). The end.</p></sec>")
    assert c.text == "They died (Fig. 2B)."
    assert c.section == "Results"
    assert (c.figure_ids, c.panels, c.panels_by_figure, c.xref_texts) == (["F2"], ["B"], {"F2": ["B"]}, ["Fig. 2B"])


def test_references_of_one_sentence_are_merged_in_order() -> None:
    (c,) = citances(f"<p>Both rose ({xref('F3', 'Fig. 3A')}; {xref('F1', 'Fig. 1')}) and fell ({xref('F3', 'Fig. 3C')}).</p>")
    assert c.figure_ids == ["F3", "F1"]
    assert c.panels == ["A", "C"]
    assert c.panels_by_figure == {"F3": ["A", "C"]}
    assert c.xref_texts == ["Fig. 3A", "Fig. 1", "Fig. 3C"]


def test_multi_rid_reference_assigns_panels_per_figure() -> None:
    (c,) = citances(f"<p>See {xref('F2 F3', 'Figs. 2B and 3C')}.</p>")
    assert c.figure_ids == ["F2", "F3"]
    assert c.panels_by_figure == {"F2": ["B"], "F3": ["C"]}


def test_ranges_written_with_two_xrefs_are_expanded() -> None:
    for joiner in ("–", "-", " to ", " through "):
        (c,) = citances(f"<p>As shown ({xref('F2', 'Figs 2')}{joiner}{xref('F5', '5')}).</p>")
        assert c.figure_ids == ["F2", "F3", "F4", "F5"], joiner


def test_a_printed_range_with_one_rid_is_completed_by_number() -> None:
    (c,) = citances(f"<p>As shown ({xref('F2', 'Figures 2-4')}).</p>")
    assert c.figure_ids == ["F2", "F3", "F4"]


def test_a_range_of_panels_across_two_xrefs() -> None:
    (c,) = citances(f"<p>As shown ({xref('F2', 'Fig. 2A')}–{xref('F2', 'D')}).</p>")
    assert c.figure_ids == ["F2"]
    assert c.panels == ["A", "B", "C", "D"]


def test_panels_printed_after_an_xref_holding_only_the_number() -> None:
    (c,) = citances(f"<p>Shown in Fig. {xref('F1', '1')}B and C.</p>")
    assert c.panels == ["B", "C"]
    assert c.xref_texts == ["Fig. 1B and C"]


def test_words_after_the_xref_are_not_panels() -> None:
    (c,) = citances(f"<p>In {xref('F3', 'Fig. 3')} A total of nine cells died.</p>")
    assert c.panels == [] and c.panels_by_figure == {}


def test_group_and_child_figure_rids_are_cited() -> None:
    body = (
        f"<p>See {xref('G1', 'Figure 7')} and {xref('G1s1', 'Figure 7—figure supplement 1A')}.</p>"
        '<fig-group id="G1"><label>Figure 7</label><fig id="G1a"/><fig id="G1s1" specific-use="child-fig">'
        "<label>Figure 7—figure supplement 1</label></fig></fig-group>"
    )
    (c,) = citances(body)
    assert c.figure_ids == ["G1", "G1s1"]
    assert c.panels_by_figure == {"G1s1": ["A"]}


def test_list_items_table_footnotes_and_quotes_count_as_text() -> None:
    body = (
        f"<sec><title>S</title><list><list-item><p>Item cites {xref('F1', 'Fig. 1')}.</p></list-item></list>"
        f"<table-wrap id='T1'><table><tr><td>Cell cites {xref('F2', 'Fig. 2')}.</td></tr></table>"
        f"<table-wrap-foot><fn><p>Foot cites {xref('F3', 'Fig. 3')}.</p></fn></table-wrap-foot></table-wrap>"
        f"<disp-quote><p>Quote cites {xref('F4', 'Fig. 4')}.</p></disp-quote></sec>"
    )
    assert [c.text for c in citances(body)] == ["Item cites Fig. 1.", "Foot cites Fig. 3.", "Quote cites Fig. 4."]


def test_abstracts_section_titles_and_back_matter_are_not_text() -> None:
    body = f"<sec><title>About {xref('F1', 'Fig. 1')}</title><p>Plain.</p></sec>"
    front = f"<article-meta><abstract><p>Abstract cites {xref('F3', 'Fig. 3')}.</p></abstract></article-meta>"
    back = f"<fn-group><fn><p>Note cites {xref('F4', 'Fig. 4')}.</p></fn></fn-group>"
    assert citances(body, front=front, back=back) == []


def test_another_figures_caption_is_text() -> None:
    # (this test asserted that captions are never text; issue 11 item 13 made them citances)
    body = f"<sec><title>S</title><fig id='X1'><caption><p>Compare {xref('F2', 'Fig. 2')}.</p></caption></fig></sec>"
    assert [(c.text, c.section, c.figure_ids) for c in citances(body)] == [("Compare Fig. 2.", "Figure", ["F2"])]


def test_appendices_and_sub_articles_count_as_text() -> None:
    back = f"<app-group><app><sec><title>Appendix A</title><p>App cites {xref('F1', 'Fig. 1')}.</p></sec></app></app-group>"
    extra = f"<sub-article id='SA1'><body><p>Reply cites {xref('F2', 'Figure 2')}.</p></body></sub-article>"
    found = citances("<p>None.</p>", back=back, extra=extra)
    assert [(c.text, c.section) for c in found] == [("App cites Fig. 1.", "Appendix A"), ("Reply cites Figure 2.", None)]


def test_section_is_the_innermost_titled_section() -> None:
    body = (
        f"<sec><title>Outer</title><sec><p>Untitled sec cites {xref('F1', 'Fig. 1')}.</p></sec>"
        f"<sec><title>Inner <italic>bold</italic></title><p>Inner cites {xref('F2', 'Fig. 2')}.</p></sec></sec>"
        f"<p>Top cites {xref('F3', 'Fig. 3')}.</p>"
    )
    assert [c.section for c in citances(body)] == ["Outer", "Inner bold", None]


def test_nested_blocks_split_the_paragraph() -> None:
    body = f"<p>Before the list<list><list-item><p>item</p></list-item></list>after it cites {xref('F1', 'Fig. 1')}.</p>"
    (c,) = citances(body)
    assert c.text == "after it cites Fig. 1."


def test_sentence_splitting_keeps_abbreviations_and_citations() -> None:
    body = (
        f"<p>Smith et al. showed it, e.g. in mice (approx. 3.5 mm; {xref('F1', 'Fig. 1')})."
        f"<sup>{xref('B1', '12', 'bibr')}</sup> Next we saw {xref('F2', 'Fig. 2')}.</p>"
    )
    found = citances(body)
    assert [c.text for c in found] == [
        "Smith et al. showed it, e.g. in mice (approx. 3.5 mm; Fig. 1).12",
        "Next we saw Fig. 2.",
    ]


def test_unknown_rids_and_citations_are_ignored() -> None:
    assert citances(f"<p>See {xref('S1', 'Fig. S1', 'supplementary-material')} and {xref('B1', '[1]', 'bibr')}.</p>") == []
