"""JATS bytes → `ParsedArticle`s: one secure parse, then metadata, figures and citances."""

from __future__ import annotations

from lxml import etree

from harvester.jats.citances import extract_citances
from harvester.jats.figure_index import FigureIndex
from harvester.jats.figures import extract_figures
from harvester.jats.metadata import extract_metadata
from harvester.jats.secure_xml import find_articles, parse_xml
from harvester.records import ParsedArticle


def parse_jats(data: bytes, *, source_name: str = "") -> list[ParsedArticle]:
    """Parse one JATS file: a single `<article>`, or a `<pmc-articleset>` of several.

    Sub-articles stay inside their parent article (their figures carry context="sub-article").
    Malformed XML is recovered with a warning on each article; input that is not JATS XML at all
    raises `JatsError`.
    """
    root, warnings = parse_xml(data, source_name=source_name)
    return [parse_article(article, warnings) for article in find_articles(root)]


def parse_article(article: etree._Element, warnings: list[str] | None = None) -> ParsedArticle:
    """Everything figmine keeps from one parsed `<article>` element."""
    meta = extract_metadata(article)
    entries = extract_figures(article)
    citances = extract_citances(article, FigureIndex(entries))
    return ParsedArticle(
        pmcid=meta.pmcid,
        pmid=meta.pmid,
        doi=meta.doi,
        title=meta.title,
        journal=meta.journal,
        year=meta.year,
        pub_date=meta.pub_date,
        version=meta.version,
        license_code=meta.license_code,
        license_url=meta.license_url,
        article_type=meta.article_type,
        figures=[entry.figure for entry in entries],
        citances=citances,
        warnings=list(warnings or ()),
    )
