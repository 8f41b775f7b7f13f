"""Plain data that flows harvest → parse → store.

A *source* (S3 bucket, Europe PMC, a local folder or package) produces an `ArticleBundle`: the raw XML
plus the files beside it. The JATS parser turns the XML into one or more `ParsedArticle`s. The store
writes both, one transaction per article.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass
class Citance:
    """A sentence that cites one or more figures: of the body, or of another caption or a table footnote."""

    text: str  # the whole sentence, whitespace normalised
    # title of the innermost titled section holding it; in a caption or table footnote, its owner's label
    # ("Figure 3—figure supplement 1", "Table 2 footnote"): harvester.jats.citances
    section: str | None
    figure_ids: list[str]  # JATS @id of every cited <fig> (multi-rid and ranges expanded)
    panels: list[str]  # cited panel letters, upper-case, in order, e.g. ["A", "B", "C"]; [] = whole figure
    # per cited figure: its panel letters when the sentence names panels of several figures
    panels_by_figure: dict[str, list[str]] = field(default_factory=dict)
    xref_texts: list[str] = field(default_factory=list)  # the xref strings as printed ("Fig. 2B")


@dataclass
class ParsedFigure:
    """One <fig> (or child figure) of an article."""

    jats_id: str | None
    label: str | None  # "Figure 2", "Fig. S1" (None when the figure has no label)
    caption_title: str | None
    caption_text: str  # title + paragraphs as clean text ("" when no caption)
    caption_xml: str | None  # the original <caption> fragment
    graphic_hrefs: list[str]  # xlink:href of each <graphic> (may lack an extension)
    parent_jats_id: str | None = None  # the enclosing <fig-group> / parent fig for child figures
    context: str = "body"  # body | front | fig-group | boxed-text | app | sub-article | floats-group
    ordinal: int = 0  # position of the figure in document order


@dataclass
class ParsedArticle:
    """Everything figmine keeps from one JATS <article>."""

    pmcid: str | None  # "PMC1234567"
    pmid: str | None
    doi: str | None
    title: str | None
    journal: str | None
    year: int | None
    license_code: str | None  # normalised ("CC BY", "CC BY-NC", "CC0", ...) when found in <permissions>
    license_url: str | None
    article_type: str | None
    figures: list[ParsedFigure]
    citances: list[Citance]
    pub_date: date | None = None  # publication date (decides between two copies of one article)
    version: int | None = None  # <article-version>, when the front matter numbers it
    warnings: list[str] = field(default_factory=list)  # harmless repairs, e.g. "&#xD800; replaced by U+FFFD"
    # content the parser could not keep (recovered malformed XML, refused entity expansion, nesting cut
    # off): the article is still stored, as `partial`, with these reasons
    losses: list[str] = field(default_factory=list)


@dataclass
class ArticleBundle:
    """What a source hands to the pipeline: one article version's XML plus the files beside it.

    `files` maps a file name as the XML refers to it (e.g. "gr1.jpg", "pone.0012255.g001.jpg")
    to a local path already verified against its checksum where the source gave one.
    """

    source: str  # s3 | europepmc | local | package | xml
    xml_path: Path | None
    pmcid: str | None = None
    version: int | None = None
    files: dict[str, Path] = field(default_factory=dict)
    pdf_path: Path | None = None
    # metadata the source knows before parsing (S3 metadata JSON, OA package license.txt, ...)
    pmid: str | None = None
    doi: str | None = None
    title: str | None = None
    license_code: str | None = None
    retracted: bool | None = None
    is_manuscript: bool | None = None
    checksums: dict[str, str] = field(default_factory=dict)  # file name -> md5 hex as given by the source
    # media the source lists but could not deliver (404, wrong md5): file name -> why; the article is
    # stored without them, as `partial`
    missing: dict[str, str] = field(default_factory=dict)
    origin: str | None = None  # where it came from: s3 key prefix, URL, path
    warnings: list[str] = field(default_factory=list)


class SourceError(Exception):
    """An article could not be fetched or read; recorded against that article, the run goes on."""

    def __init__(
        self, message: str, *, pmcid: str | None = None, retriable: bool = False, origin: str | None = None
    ):
        super().__init__(message)
        self.pmcid = pmcid
        self.retriable = retriable
        self.origin = origin  # the path or URL of the failed item, when known
        self.md5_mismatch = False  # the file arrived, but not as its checksum says
