"""One identity rule for an article, applied by ingest, harvest and the workers alike.

An article is known by its **PMCID, else its PMID, else its DOI, else a hash of its content**, and its
key in the store says which (`PMC123`, `pmid:123`, `doi:10.7554/elife.00013`, `sha256:<hex>`).
The ids come from the article's own front matter. What a source knows from outside the XML (the
bucket's metadata JSON, a file named `PMC123.nxml`, a version folder) only fills in for a file that
holds a single article: a `<pmc-articleset>` of ten articles named `PMC123.xml` is ten identities,
none of them PMC123.

An id that cannot be one (a 30-digit PMID, a 360-character DOI) is dropped with a warning and the
next id in the rule decides: truncating an identifier would merge different articles.

When two inputs claim one identity with different content, `Claim.rank` decides which copy is kept,
the same way whatever order they arrive in: the higher version, then the newer publication date, then
the more complete copy (more figures with an image: a harvest that now finds a missing image fills it
in), then the larger content hash (arbitrary, but stable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from harvester.records import ArticleBundle, ParsedArticle

PMCID_RE = re.compile(r"PMC[1-9]\d{0,9}")
PMID_RE = re.compile(r"[1-9]\d{0,9}")
# a DOI is "10.<registrant>/<suffix>"; 300 characters is the store's column and far beyond real DOIs
DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
MAX_DOI = 300
MAX_VERSION = 10_000


@dataclass(frozen=True)
class Identity:
    key: str  # the article's key in the store
    pmcid: str | None
    pmid: str | None
    doi: str | None
    version: int | None
    warnings: tuple[str, ...] = field(default=())


def _checked(kind: str, value: str | None, pattern: re.Pattern, warnings: list[str],
             max_len: int | None = None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if (max_len is not None and len(value) > max_len) or not pattern.fullmatch(value):
        shown = value if len(value) <= 40 else f"{value[:40]}… ({len(value)} characters)"
        warnings.append(f"{kind} {shown!r} is not a valid {kind}: left out")
        return None
    return value


def _version(value: int | None, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if not 0 < value <= MAX_VERSION:
        warnings.append(f"version {value} is out of range: left out")
        return None
    return value


def resolve_identity(parsed: ParsedArticle, bundle: ArticleBundle, *, single: bool, xml_sha256: str,
                     index: int = 0) -> Identity:
    """The identity of `parsed`, the `index`-th article of `bundle` (`single`: the file's only article)."""
    warnings: list[str] = []
    pmcid = _checked("PMCID", parsed.pmcid, PMCID_RE, warnings)
    pmid = _checked("PMID", parsed.pmid, PMID_RE, warnings)
    doi = _checked("DOI", parsed.doi, DOI_RE, warnings, MAX_DOI)
    version = _version(parsed.version, warnings)
    if single:  # the source's own knowledge: authoritative for the version, a fallback for the ids
        outside_pmcid = _checked("PMCID", bundle.pmcid, PMCID_RE, warnings)
        if pmcid and outside_pmcid and pmcid != outside_pmcid:
            warnings.append(f"the front matter says {pmcid}, the source {outside_pmcid}: {pmcid} kept")
        pmcid = pmcid or outside_pmcid
        pmid = pmid or _checked("PMID", bundle.pmid, PMID_RE, warnings)
        doi = doi or _checked("DOI", bundle.doi, DOI_RE, warnings, MAX_DOI)
        version = _version(bundle.version, warnings) or version
    if pmcid:
        key = pmcid
    elif pmid:
        key = f"pmid:{pmid}"
    elif doi:
        key = f"doi:{doi.lower()}"  # DOIs are case-insensitive
    else:
        key = f"sha256:{xml_sha256}" + (f":{index}" if index else "")
    return Identity(key, pmcid, pmid, doi, version, tuple(warnings))


@dataclass(frozen=True)
class Claim:
    """What decides between two copies of one identity (see the module docstring)."""

    version: int | None
    pub_date: date | None
    images: int  # figures that have an image
    content_hash: str

    @property
    def rank(self) -> tuple:
        return (self.version or 0, self.pub_date or date.min, self.images, self.content_hash)

    def why_over(self, other: "Claim") -> str:
        """Why this copy ranks above `other`, in words."""
        if (self.version or 0) != (other.version or 0):
            return f"higher version ({self.version or 'none'} > {other.version or 'none'})"
        if (self.pub_date or date.min) != (other.pub_date or date.min):
            return f"newer publication date ({self.pub_date or 'none'} > {other.pub_date or 'none'})"
        if self.images != other.images:
            return f"more figures with an image ({self.images} > {other.images})"
        return "same version, date and images: the larger content hash decides"
