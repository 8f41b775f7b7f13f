"""Figures wherever they are: contexts, groups, child figures, captions, graphics."""

from __future__ import annotations

from harvester.jats import parse_jats

NS = 'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML"'
ARTICLE = f"""<article {NS}><front><article-meta/></front><body>
<sec><title>Results</title>
<p>Intro.<fig id="F1"><label>Figure 1.</label>
  <caption><title>Growth of <italic>E. coli</italic>.</title>
    <p>(A) Cells <inline-graphic xlink:href="arrow.gif"/>grow.</p><p>(B) Cells die.</p></caption>
  <alternatives><graphic xlink:href="fig1.tif"/><graphic xlink:href="fig1.jpg"/></alternatives>
  <graphic xlink:href="fig1-extra"/>
</fig></p>
<fig-group id="FG2"><label>Figure 2</label><caption><p>A group.</p></caption>
  <fig id="F2a"><label>Figure 2a</label><graphic xlink:href="f2a"/></fig>
  <fig id="F2b" specific-use="child-fig"><graphic xlink:href="f2b"/></fig>
</fig-group>
<fig-group>
  <fig id="F3"><label>Figure 3</label><caption><p>Main.</p></caption><graphic xlink:href="f3"/></fig>
  <fig id="F3s1" specific-use="child-fig"><label>Figure 3—figure supplement 1</label><graphic xlink:href="f3s1"/></fig>
</fig-group>
<fig id="F4"><graphic xlink:href=""/><graphic xlink:href="f4.png"/></fig>
<fig id="F4s1" specific-use="child-fig"><label>Figure 4—figure supplement 1</label></fig>
<boxed-text><sec><title>Box 1</title><fig id="B1"><label>Box 1 Figure</label><caption><p>In a box.</p></caption></fig></sec></boxed-text>
</sec></body>
<back><app-group><app id="A1"><title>Appendix</title><fig id="AF1"><label>Appendix 1—figure 1</label></fig></app></app-group></back>
<floats-group><fig id="FL1"><label>Figure 5</label><caption><p>Float.</p></caption><graphic xlink:href="f5"/></fig></floats-group>
<sub-article id="SA1" article-type="reply"><body><fig id="R1"><label>Author response image 1</label><graphic xlink:href="resp1"/></fig></body></sub-article>
</article>"""


def figures() -> dict[str, object]:
    (article,) = parse_jats(ARTICLE.encode())
    return {f.jats_id: f for f in article.figures}


def test_every_figure_is_found_in_document_order_with_ordinals() -> None:
    (article,) = parse_jats(ARTICLE.encode())
    assert [f.jats_id for f in article.figures] == [
        "F1", "FG2", "F2a", "F2b", "F3", "F3s1", "F4", "F4s1", "B1", "AF1", "FL1", "R1",
    ]
    assert [f.ordinal for f in article.figures] == list(range(12))


def test_contexts() -> None:
    figs = figures()
    assert {fid: figs[fid].context for fid in figs} == {
        "F1": "body", "FG2": "body", "F2a": "fig-group", "F2b": "fig-group", "F3": "fig-group",
        "F3s1": "fig-group", "F4": "body", "F4s1": "body", "B1": "boxed-text", "AF1": "app",
        "FL1": "floats-group", "R1": "sub-article",
    }


def test_groups_and_child_figures_name_their_parent() -> None:
    figs = figures()
    assert figs["FG2"].label == "Figure 2" and figs["FG2"].caption_text == "A group."
    assert figs["F2a"].parent_jats_id == "FG2" and figs["F2b"].parent_jats_id == "FG2"
    # an id-less eLife group: the supplement hangs under the main figure, the group is not reported
    assert figs["F3"].parent_jats_id is None and figs["F3s1"].parent_jats_id == "F3"
    # no group at all (eLife via PMC): the supplement hangs under the figure it follows
    assert figs["F4s1"].parent_jats_id == "F4"


def test_caption_title_text_and_original_xml() -> None:
    f1 = figures()["F1"]
    assert f1.label == "Figure 1"
    assert f1.caption_title == "Growth of E. coli."
    assert f1.caption_text == "Growth of E. coli. (A) Cells grow. (B) Cells die."
    assert f1.caption_xml.startswith("<caption") and "<italic>E. coli</italic>" in f1.caption_xml


def test_all_graphics_are_kept_as_written_and_caption_graphics_skipped() -> None:
    figs = figures()
    assert figs["F1"].graphic_hrefs == ["fig1.tif", "fig1.jpg", "fig1-extra"]
    assert figs["F4"].graphic_hrefs == ["f4.png"]  # the empty href is dropped
    assert figs["F2b"].graphic_hrefs == ["f2b"]


def test_figures_without_label_or_caption_do_not_crash() -> None:
    figs = figures()
    f4 = figs["F4"]
    assert (f4.label, f4.caption_title, f4.caption_text, f4.caption_xml) == (None, None, "", None)
    assert figs["AF1"].caption_text == ""


def test_a_bare_figure_without_id_is_reported() -> None:
    (article,) = parse_jats(b"<article><body><fig><graphic href='x'/></fig></body></article>")
    (fig,) = article.figures
    assert fig.jats_id is None and fig.graphic_hrefs == ["x"]
