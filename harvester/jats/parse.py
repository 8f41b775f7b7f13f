"""JATS bytes → `ParsedArticle`s: one secure parse, then metadata, figures and citances."""

from __future__ import annotations

from lxml import etree

from harvester.jats.citances import extract_citances
from harvester.jats.figure_index import FigureIndex
from harvester.jats.figures import extract_figures
from harvester.jats.metadata import extract_metadata
from harvester.jats.repair import unexpanded_entities
from harvester.jats.secure_xml import JatsError, Loss, find_articles, read_xml
from harvester.records import ParsedArticle


def parse_jats(data: bytes, *, source_name: str = "") -> list[ParsedArticle]:
    """Parse one JATS file: a single `<article>`, or a `<pmc-articleset>` of several.

    Sub-articles stay inside their parent article (their figures carry context="sub-article").
    Damaged XML is repaired or recovered: harmless repairs are listed in each article's `warnings`,
    content that could not be kept in its `losses` (an article of a set that ends before the
    damage starts carries none). Input that is not JATS XML at all raises `JatsError`.
    """
    doc = read_xml(data, source_name=source_name)
    articles = find_articles(doc.root)
    parsed = []
    try:
        for i, article in enumerate(articles):
            following = articles[i + 1].sourceline if i + 1 < len(articles) else None
            losses = [loss.reason for loss in doc.losses if _reaches(loss, following)]
            if doc.may_hold_entities:
                lost_text = unexpanded_entities(article)
                if lost_text:
                    losses.append(lost_text)
            parsed.append(parse_article(article, doc.warnings, losses))
    except UnicodeDecodeError as error:
        # text libxml2 kept that is not UTF-8 (a recovered parse of bytes the repairs did not foresee)
        where = f" ({source_name})" if source_name else ""
        raise JatsError(f"undecodable text in the XML{where}: {error}") from error
    return parsed


def _reaches(loss: Loss, following: int | None) -> bool:
    """Whether a loss may touch an article of a set: not when the next article starts on a line
    before the damage (the article ended before it)."""
    return loss.line is None or following is None or following >= loss.line


def parse_article(
    article: etree._Element, warnings: list[str] | None = None, losses: list[str] | None = None
) -> ParsedArticle:
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
        losses=list(losses or ()),
    )
