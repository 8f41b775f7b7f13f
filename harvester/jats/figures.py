"""Every `<fig>` of an article: label, caption (clean text + original XML) and graphic hrefs.

Figures are found wherever they sit: body, `<fig-group>`, `<boxed-text>`, `<app>`, `<sub-article>`,
`<floats-group>`. A `<fig-group>` that carries an id, label or caption is itself reported (xrefs
may point at it) and its figures name it as parent; in eLife's id-less groups the figure
supplements (`specific-use="child-fig"`) name the group's main figure as parent, and without any
group (eLife as served by PMC) the figure they follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from harvester.jats.encoding import clean_controls, strip_controls_markup
from harvester.jats.text import CAPTION_SKIP, TITLE_SKIP, clean_text, squash
from harvester.records import ParsedFigure

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# ancestors that decide a figure's context, strongest first: an appendix is "app" even where its
# body is wrapped in a <boxed-text> (eLife); a figure of the front matter (a graphical abstract) is
# "front"
_CONTEXT_RANK = {"sub-article": 0, "response": 0, "fig-group": 1, "app": 2, "boxed-text": 3,
                 "front": 4, "front-stub": 4, "floats-group": 5, "floats-wrap": 5}
_CONTEXT_NAME = {"response": "sub-article", "floats-wrap": "floats-group", "front-stub": "front"}


@dataclass
class FigureEntry:
    """A parsed figure plus where it lives (for resolving references inside its own (sub-)article)."""

    figure: ParsedFigure
    container: str | None  # id (or position) of the enclosing sub-article; None for the main article
    is_group: bool = False


def extract_figures(article: etree._Element) -> list[FigureEntry]:
    """All figures of `article` (sub-articles included) in document order."""
    entries: list[FigureEntry] = []
    last_main: dict[str | None, str | None] = {}  # container -> id of the last figure that is no child
    for el in article.iter("fig", "fig-group"):
        context, group, container = _placement(el)
        is_group = el.tag == "fig-group"
        if is_group and el.get("id") is None and el.find("label") is None and el.find("caption") is None:
            continue  # a bare grouping wrapper: its figures are reported on their own
        is_child = el.get("specific-use") == "child-fig"
        parent = None
        if group is not None:
            parent = group.get("id")
            if parent is None and is_child:
                parent = _main_figure_id(group)
        elif is_child:
            # PMC's eLife files: figure supplements follow their figure without a <fig-group>
            parent = last_main.get(container)
        if not is_child and not is_group:
            last_main[container] = el.get("id")
        if is_group and context == "fig-group":
            context = "body"  # a group nested in a group: report it as a plain figure
        figure = _figure(el, context, parent)
        figure.ordinal = len(entries)
        entries.append(FigureEntry(figure, container, is_group))
    return entries


def _placement(el: etree._Element) -> tuple[str, etree._Element | None, str | None]:
    """(context, enclosing fig-group, sub-article container) from the element's ancestors."""
    best_rank, context = 99, "body"
    group = None
    container = None
    for anc in el.iterancestors():
        tag = anc.tag
        if tag == "article":
            break
        rank = _CONTEXT_RANK.get(tag)
        if rank is None:
            continue
        if tag == "fig-group":
            if group is None:
                group = anc
            else:
                continue
        if rank == 0 and container is None:
            container = anc.get("id") or f"sub-article@{anc.sourceline}"
        if rank < best_rank:
            best_rank, context = rank, _CONTEXT_NAME.get(tag, tag)
    if el.tag == "fig-group":
        group = None
    return context, group, container


def _main_figure_id(group: etree._Element) -> str | None:
    for fig in group.iterchildren("fig"):
        if fig.get("specific-use") != "child-fig":
            return fig.get("id")
    return None


def _figure(el: etree._Element, context: str, parent: str | None) -> ParsedFigure:
    label_el = caption = None
    hrefs: list[str] = []
    for child in el:  # one pass over the figure's own children
        tag = child.tag
        if tag == "label":
            label_el = label_el if label_el is not None else child
        elif tag == "caption":
            caption = caption if caption is not None else child
        elif tag == "graphic":
            _add_href(hrefs, child)
        elif tag == "alternatives":
            for graphic in child.iterchildren("graphic"):
                _add_href(hrefs, graphic)
    if not hrefs:
        hrefs = graphic_hrefs(el)
    # labels lose a trailing "." or ":" ("Figure 1." -> "Figure 1")
    label = clean_controls(_leaf_text(label_el, TITLE_SKIP)).rstrip(" .:") or None
    caption_title = caption_text = caption_xml = None
    if caption is not None:
        caption_title = _leaf_text(caption.find("title"), CAPTION_SKIP) or None
        caption_xml = etree.tostring(caption, encoding="unicode", with_tail=False)
        caption_text = clean_text(caption, skip=CAPTION_SKIP, xml=caption_xml)
        if not caption_text.isprintable():  # control characters (C1, DEL) are no text
            clean = clean_controls(caption_text)
            if clean != caption_text:
                caption_text, caption_title = clean, clean_controls(caption_title)
                caption_xml = strip_controls_markup(caption_xml)
    return ParsedFigure(
        jats_id=el.get("id"),
        label=label,
        caption_title=caption_title,
        caption_text=caption_text or "",
        caption_xml=caption_xml,
        graphic_hrefs=hrefs,
        parent_jats_id=parent,
        context=context,
    )


def _leaf_text(el: etree._Element | None, skip: frozenset[str]) -> str:
    """clean_text, short-cut for the usual element without children ("<label>Figure 1</label>")."""
    if el is None:
        return ""
    return squash(el.text or "") if not len(el) else clean_text(el, skip=skip)


def _add_href(hrefs: list[str], graphic: etree._Element) -> None:
    href = clean_controls((graphic.get(XLINK_HREF) or graphic.get("href") or "").strip())
    if href and href not in hrefs:
        hrefs.append(href)


def graphic_hrefs(fig: etree._Element) -> list[str]:
    """xlink:href of each `<graphic>` of the figure itself, at any depth (also inside
    `<alternatives>`), as written; graphics of captions and nested figures are not its own."""
    hrefs: list[str] = []
    for graphic in fig.iter("graphic"):
        own = True
        for anc in graphic.iterancestors():
            if anc is fig:
                break
            if anc.tag in ("caption", "fig", "fig-group", "supplementary-material"):
                own = False
                break
        if own:
            _add_href(hrefs, graphic)
    return hrefs
