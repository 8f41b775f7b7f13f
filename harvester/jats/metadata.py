"""Article-level metadata from `<front>`: ids, title, journal, year, licence, article type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date

from lxml import etree

from harvester.jats.encoding import clean_controls
from harvester.jats.text import TITLE_SKIP, clean_text
from harvester.licenses import normalise_license

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_PMCID = re.compile(r"^\s*(?:PMC)?\s*(\d+)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(1[6-9]\d\d|2\d\d\d)(?!\d)")
_DOI_PREFIX = re.compile(r"^\s*(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# which <pub-date> gives the year, best first (pub-type in older DTDs, date-type in JATS 1.1+)
_DATE_RANK = {"ppub": 0, "epub-ppub": 1, "epub": 2, "pub": 3, "collection": 4, "": 5, "ecorrected": 8,
              "pmc-release": 9}


@dataclass
class ArticleMetadata:
    pmcid: str | None = None
    pmid: str | None = None
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    year: int | None = None
    pub_date: Date | None = None  # the same <pub-date> as `year`, month and day 1 when it lacks them
    version: int | None = None  # <article-version> when it is a number
    license_code: str | None = None
    license_url: str | None = None
    article_type: str | None = None


def normalise_pmcid(value: str | None) -> str | None:
    """"PMC123", "pmc123", "123", "PMC123.1" → "PMC123"; None when there is no number."""
    if not value:
        return None
    m = _PMCID.match(value)
    return f"PMC{m.group(1)}" if m else None


def extract_metadata(article: etree._Element) -> ArticleMetadata:
    """Metadata of one `<article>`; every field None when `<front>` lacks it."""
    meta = ArticleMetadata(article_type=clean_controls(article.get("article-type")) or None)
    front = article.find("front")
    if front is None:
        return meta
    article_meta = front.find("article-meta")
    journal_meta = front.find("journal-meta")
    if journal_meta is not None:
        meta.journal = clean_controls(_journal(journal_meta)) or None
    if article_meta is None:
        return meta
    ids: dict[str, str] = {}
    for el in article_meta.iterchildren("article-id"):
        kind = (el.get("pub-id-type") or "").lower()
        value = (el.text or "").strip()
        if value and kind not in ids:
            ids[kind] = value
    meta.pmcid = normalise_pmcid(ids.get("pmcid") or ids.get("pmc") or ids.get("pmcaid"))
    meta.pmid = clean_controls(ids.get("pmid")) or None
    if ids.get("doi"):
        meta.doi = clean_controls(_DOI_PREFIX.sub("", ids["doi"]).strip()) or None
    title_group = article_meta.find("title-group")
    if title_group is not None:
        meta.title = clean_controls(clean_text(title_group.find("article-title"), skip=TITLE_SKIP)) or None
    meta.year, meta.pub_date = _pub_date(article_meta)
    version = (article_meta.findtext("article-version") or "").strip()
    # isdecimal, not isdigit: int() refuses "²"
    meta.version = int(version) if version.isdecimal() and version.isascii() and len(version) < 6 else None
    meta.license_code, license_url = _license(article_meta)
    meta.license_url = clean_controls(license_url)
    return meta


def _journal(journal_meta: etree._Element) -> str | None:
    for path in ("journal-title-group/journal-title", "journal-title",
                 "journal-title-group/abbrev-journal-title", "abbrev-journal-title"):
        text = clean_text(journal_meta.find(path))
        if text:
            return text
    ids = {(el.get("journal-id-type") or ""): (el.text or "").strip() for el in journal_meta.iterchildren("journal-id")}
    for kind in ("nlm-ta", "iso-abbrev", "publisher-id", ""):
        if ids.get(kind):
            return ids[kind]
    return next((v for v in ids.values() if v), None)


def _pub_date(article_meta: etree._Element) -> tuple[int | None, Date | None]:
    """(year, date) of the best-ranked <pub-date>: the year alone when the date is not a valid one."""
    best: tuple[int, int, etree._Element] | None = None
    for date in article_meta.iterchildren("pub-date"):
        kind = (date.get("pub-type") or date.get("date-type") or "").lower()
        rank = _DATE_RANK.get(kind, 7)
        if kind == "pub":
            # JATS 1.1+: <pub-date date-type="pub" publication-format="print|electronic">
            fmt = (date.get("publication-format") or "").lower()
            rank = {"print": 0, "electronic": 2}.get(fmt, rank)
        year = _date_year(date)
        if year is not None and (best is None or rank < best[0]):
            best = (rank, year, date)
    if best is None:
        return None, None
    _, year, date = best
    month, day = _date_part(date, "month"), _date_part(date, "day")
    month = month if month and month <= 12 else 1
    try:
        return year, Date(year, month, day or 1)
    except ValueError:  # 31 June: keep the month
        return year, Date(year, month, 1)


def _date_part(date: etree._Element, name: str) -> int | None:
    text = (date.findtext(name) or "").strip()
    return int(text) if text.isdecimal() and text.isascii() and len(text) <= 2 and int(text) else None


def _date_year(date: etree._Element) -> int | None:
    el = date.find("year")
    year = _year_in(el.text if el is not None else None)
    if year is None:  # read the fallbacks only when needed: most dates have a <year>
        year = _year_in(date.findtext("string-date"))
    if year is None:
        year = _year_in(date.get("iso-8601-date"))
    return year


def _year_in(text: str | None) -> int | None:
    m = _YEAR.search(text) if text else None
    return int(m.group(1)) if m else None


def _license(article_meta: etree._Element) -> tuple[str | None, str | None]:
    """(code, url) from `<permissions><license>`: xlink:href, ali:license_ref, links in the text,
    @license-type, then the licence text; the copyright statement as a last resort."""
    permissions = article_meta.find("permissions")
    url: str | None = None
    statements = list(article_meta.iterchildren("copyright-statement"))  # older DTDs put it here
    if permissions is not None:
        statements[:0] = permissions.iterchildren("copyright-statement")
        for lic in permissions.iterchildren("license"):
            refs = _license_refs(lic)
            first_url = next((r for r in refs if r.startswith(("http://", "https://"))), None)
            url = url or first_url
            for candidate in [*refs, lic.get("license-type") or "", clean_text(lic)]:
                code = normalise_license(candidate)
                if code:
                    exact = candidate if candidate in refs and candidate.startswith("http") else None
                    return code, exact or first_url
    for statement in statements:
        code = normalise_license(clean_text(statement))
        if code:
            return code, url
    return None, url


def _license_refs(lic: etree._Element) -> list[str]:
    """URLs and codes a <license> points at, in order of authority."""
    refs: list[str] = []
    href = lic.get(XLINK_HREF) or lic.get("href")
    if href and href.strip():
        refs.append(href.strip())
    for el in lic.iter():
        tag = el.tag
        if tag.__class__ is not str:
            continue
        if tag.endswith("license_ref") and el.text and el.text.strip():
            refs.append(el.text.strip())
        elif tag == "ext-link" and (el.get(XLINK_HREF) or "").strip():
            refs.append(el.get(XLINK_HREF).strip())
    return refs
