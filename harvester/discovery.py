"""Which articles to harvest: explicit IDs, an E-utilities search, or what changed in the bucket since a date.

Everything yields `ArticleRef(pmcid, version)` lazily (version None = "the newest"), honouring `limit`,
so a caller can stop early without the remaining requests being sent.

- Explicit IDs: PMCIDs pass through (normalised; "PMC123.2" keeps its version). PMIDs and DOIs go through
  the PMC ID converter in batches of at most 200, one ID type per request.
- Search: ESearch on db=pmc with `AND open access[filter]`, `usehistory=y`, then pages of the stored set
  (`term=#<query_key>` + `WebEnv`, `retstart`/`retmax`). NCBI documents retstart paging beyond 10,000 for
  every database except PubMed; should the server refuse a retstart anyway (the PubMed-style
  "'retstart' cannot be larger than 9998" error), the search is finished by bisecting the publication-
  date range until every window holds at most 9,999 records, skipping IDs already yielded.
- Since: the bucket's inventory (`S3BucketSource.iter_updated_since`).

Every NCBI request takes a token from the shared rate limiter (ratelimit.py) and sends tool, email and
api_key. E-utilities report errors as HTTP 200 with `{"esearchresult": {"ERROR": ...}}`; those raise
`EutilsError` with the server's message.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import httpx

from figmine.settings import Settings, get_settings
from harvester.http import Limiter, RetryPolicy, get_client, request
from harvester.ratelimit import get_ncbi_limiter
from harvester.sources.pmc_metadata import normalise_pmcid

log = logging.getLogger(__name__)

IDCONV_BATCH = 200  # the ID converter's documented maximum per request
ESEARCH_MAX_RETMAX = 10_000
RETSTART_CAP = 9_999  # records reachable by retstart where the server caps it (PubMed)
OPEN_ACCESS_FILTER = "open access[filter]"
_EARLIEST = date(1700, 1, 1)

_PMCID_RE = re.compile(r"^(?i:pmc)(\d+)(?:\.(\d+))?$")
_PMID_RE = re.compile(r"^(?i:pmid:?\s*)?(\d+)$")
_DOI_RE = re.compile(r"^(?i:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$")


class ArticleRef(NamedTuple):
    pmcid: str  # "PMC1234567"
    version: int | None = None  # None: whichever version is newest when fetched

    def __str__(self) -> str:
        return f"{self.pmcid}.{self.version}" if self.version else self.pmcid


class EutilsError(RuntimeError):
    """E-utilities answered with an error (often as HTTP 200 with an ERROR field)."""


class IdConverterError(RuntimeError):
    """The PMC ID converter answered with an error or something unreadable."""


def classify_id(value: str) -> tuple[str, str]:
    """('pmcid'|'pmid'|'doi', normalised value). Bare digits are PMIDs; PMCIDs need their 'PMC' prefix.

    Raises ValueError for anything else.
    """
    text = str(value).strip()
    if m := _PMCID_RE.match(text):
        return "pmcid", f"PMC{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")
    if m := _PMID_RE.match(text):
        return "pmid", m.group(1)
    if m := _DOI_RE.match(text):
        return "doi", m.group(1)
    raise ValueError(f"not a PMCID, PMID or DOI: {value!r}")


def _ref_from_pmcid(text: str) -> ArticleRef:
    m = _PMCID_RE.match(text)
    if not m:
        raise ValueError(f"not a PMCID: {text!r}")
    return ArticleRef(f"PMC{m.group(1)}", int(m.group(2)) if m.group(2) else None)


class NcbiClient:
    """E-utilities and the ID converter behind one HTTP client, retry policy and the shared rate limiter."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        limiter: Limiter | None = None,
        policy: RetryPolicy | None = None,
    ):
        self.settings = settings or get_settings()
        self.client = client or get_client()
        self.limiter = limiter or get_ncbi_limiter(self.settings)
        self.policy = policy or RetryPolicy.from_settings(self.settings)

    def _identity(self) -> dict[str, str]:
        params = {"tool": self.settings.ncbi_tool}
        if self.settings.ncbi_email:
            params["email"] = self.settings.ncbi_email
        if self.settings.ncbi_api_key:
            params["api_key"] = self.settings.ncbi_api_key
        return params

    def _get_json(self, url: str, params: dict[str, Any], what: str, error: type[Exception]) -> Any:
        try:
            response = request(self.client, "GET", url, params={**params, **self._identity()},
                               policy=self.policy, limiter=self.limiter)
        except httpx.HTTPError as exc:
            raise error(f"{what}: no answer from {url}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise error(f"{what}: HTTP {response.status_code} from {response.url}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError as exc:
            raise error(f"{what}: answer is not JSON ({response.headers.get('content-type')}): "
                        f"{response.text[:200]!r}") from exc

    def esearch(
        self,
        term: str,
        *,
        db: str = "pmc",
        retstart: int = 0,
        retmax: int = 20,
        usehistory: bool = False,
        webenv: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """One ESearch call (JSON mode); returns the `esearchresult` object."""
        params: dict[str, Any] = {"db": db, "term": term, "retmode": "json", "retstart": retstart,
                                  "retmax": retmax, **{k: v for k, v in extra.items() if v is not None}}
        if usehistory:
            params["usehistory"] = "y"
        if webenv:
            params["WebEnv"] = webenv
        url = f"{self.settings.eutils_url.rstrip('/')}/esearch.fcgi"
        data = self._get_json(url, params, f"esearch {term!r}", EutilsError)
        result = data.get("esearchresult") if isinstance(data, dict) else None
        if not isinstance(result, dict):
            message = data.get("error") if isinstance(data, dict) else None
            raise EutilsError(f"esearch {term!r}: unexpected answer: {message or str(data)[:200]}")
        if result.get("ERROR"):
            raise EutilsError(f"esearch {term!r} failed: {result['ERROR']}")
        for name in ("errorlist", "warninglist"):
            notes = {k: v for k, v in (result.get(name) or {}).items() if v}
            if notes:
                log.warning("esearch %r %s: %s", term, name, notes)
        return result

    def convert_ids(self, ids: list[str], *, idtype: str) -> list[dict[str, Any]]:
        """One ID-converter call for at most 200 IDs of one type; returns its records."""
        if len(ids) > IDCONV_BATCH:
            raise ValueError(f"at most {IDCONV_BATCH} IDs per ID-converter request, got {len(ids)}")
        params = {"ids": ",".join(ids), "idtype": idtype, "format": "json"}
        data = self._get_json(self.settings.idconv_url, params, f"ID converter ({len(ids)} {idtype}s)",
                              IdConverterError)
        if not isinstance(data, dict) or data.get("status") not in (None, "ok"):
            message = data.get("message") if isinstance(data, dict) else data
            raise IdConverterError(f"ID converter failed for {ids[:3]}...: {message}")
        records = data.get("records")
        if not isinstance(records, list):
            raise IdConverterError(f"ID converter answer has no records list: {str(data)[:200]}")
        return records


# -- explicit IDs ----------------------------------------------------------------------------------


def _convert(ncbi: NcbiClient, idtype: str, batch: list[str]) -> Iterator[ArticleRef]:
    resolved = 0
    for record in ncbi.convert_ids(batch, idtype=idtype):
        pmcid = record.get("pmcid")
        if record.get("status") == "error" or not pmcid:
            requested = record.get("requested-id") or record.get(idtype) or "?"
            log.warning("ID converter: %s %s has no PMCID: %s", idtype, requested,
                        record.get("errmsg") or "not in PMC")
            continue
        resolved += 1
        yield ArticleRef(normalise_pmcid(pmcid))
    if resolved < len(batch):
        log.info("ID converter: %d of %d %ss resolved to a PMCID", resolved, len(batch), idtype)


def iter_explicit_ids(
    values: Iterable[str],
    *,
    ncbi: NcbiClient | None = None,
    limit: int | None = None,
) -> Iterator[ArticleRef]:
    """PMCIDs as given; PMIDs and DOIs converted to PMCIDs (batches of ≤200, in input order per type).

    Unreadable values raise ValueError before any request is sent for them.
    """

    def refs() -> Iterator[ArticleRef]:
        pending: dict[str, list[str]] = {"pmid": [], "doi": []}
        client = ncbi
        for value in values:
            kind, norm = classify_id(value)
            if kind == "pmcid":
                yield _ref_from_pmcid(norm)
                continue
            pending[kind].append(norm)
            if len(pending[kind]) == IDCONV_BATCH:
                client = client or NcbiClient()
                yield from _convert(client, kind, pending[kind])
                pending[kind] = []
        for kind, batch in pending.items():
            if batch:
                client = client or NcbiClient()
                yield from _convert(client, kind, batch)

    yield from _dedupe_and_limit(refs(), limit)


def _limit(refs: Iterable[ArticleRef], limit: int | None) -> Iterator[ArticleRef]:
    return iter(refs) if limit is None else itertools.islice(refs, max(0, limit))


def _dedupe_and_limit(refs: Iterable[ArticleRef], limit: int | None) -> Iterator[ArticleRef]:
    """Drop repeats (memory grows with the output: use where the input can repeat itself)."""

    def unique() -> Iterator[ArticleRef]:
        seen: set[ArticleRef] = set()
        for ref in refs:
            if ref not in seen:
                seen.add(ref)
                yield ref

    return _limit(unique(), limit)


# -- search ----------------------------------------------------------------------------------------


def _retstart_refused(exc: EutilsError) -> bool:
    text = str(exc).lower()
    return "retstart" in text and ("cannot be larger" in text or "9,999" in text or "9999" in text)


def _fmt(d: date) -> str:
    return d.strftime("%Y/%m/%d")


def _page_history(ncbi: NcbiClient, first: dict[str, Any], term: str, page_size: int) -> Iterator[str]:
    """UIDs of a stored search: the first page's, then pages of `#<query_key>` on the history server."""
    count = int(first.get("count") or 0)
    ids = list(first.get("idlist") or [])
    yield from ids
    retstart = len(ids)
    webenv, query_key = first.get("webenv"), first.get("querykey")
    if retstart < count and not (webenv and query_key):
        raise EutilsError(f"esearch {term!r}: {count} hits but no WebEnv/query_key to page through them")
    while retstart < count:
        page = ncbi.esearch(f"#{query_key}", usehistory=True, webenv=webenv, retstart=retstart,
                            retmax=page_size)
        ids = list(page.get("idlist") or [])
        if not ids:
            log.warning("esearch %r: history server returned nothing at retstart=%d of %d", term, retstart, count)
            return
        yield from ids
        retstart += len(ids)


def _search_window(
    ncbi: NcbiClient, term: str, start: date, end: date, page_size: int, datetype: str
) -> Iterator[str]:
    """All UIDs published in [start, end], bisecting the range while a window exceeds the retstart cap."""
    first = ncbi.esearch(term, usehistory=True, retmax=min(page_size, RETSTART_CAP),
                         mindate=_fmt(start), maxdate=_fmt(end), datetype=datetype)
    count = int(first.get("count") or 0)
    if count > RETSTART_CAP and start < end:
        middle = start + (end - start) // 2
        yield from _search_window(ncbi, term, start, middle, page_size, datetype)
        yield from _search_window(ncbi, term, middle + timedelta(days=1), end, page_size, datetype)
        return
    if count > RETSTART_CAP:
        log.warning("esearch %r: %d records on %s alone; only the first %d are reachable",
                    term, count, _fmt(start), RETSTART_CAP)
    reachable = dict(first, count=str(min(count, RETSTART_CAP)))
    yield from _page_history(ncbi, reachable, term, page_size)


def iter_search(
    term: str,
    *,
    ncbi: NcbiClient | None = None,
    limit: int | None = None,
    open_access_only: bool = True,
    page_size: int = 1000,
    datetype: str = "pdat",
) -> Iterator[ArticleRef]:
    """PMCIDs matching an Entrez query on db=pmc (open-access subset by default), in server order."""
    ncbi = ncbi or NcbiClient()
    page_size = max(1, min(page_size, ESEARCH_MAX_RETMAX))
    full_term = f"({term}) AND {OPEN_ACCESS_FILTER}" if open_access_only else term

    def uids() -> Iterator[str]:
        first = ncbi.esearch(full_term, usehistory=True, retmax=page_size)
        yielded: set[str] = set()
        try:
            for uid in _page_history(ncbi, first, full_term, page_size):
                yielded.add(uid)
                yield uid
        except EutilsError as exc:
            if not _retstart_refused(exc):
                raise
            log.info("esearch %r: server caps retstart; continuing by publication-date windows", full_term)
            # Issue dates run ahead of the calendar (a "2027 Jan" issue published in 2026): look ahead.
            latest = date(datetime.now(UTC).year + 5, 12, 31)
            for uid in _search_window(ncbi, full_term, _EARLIEST, latest, page_size, datetype):
                if uid not in yielded:  # windows are disjoint; only the first pass can repeat
                    yield uid

    # UIDs of one stored search are unique: no dedupe set (it would grow to millions of entries).
    yield from _limit((ArticleRef(normalise_pmcid(uid)) for uid in uids()), limit)


# -- since -----------------------------------------------------------------------------------------


def iter_since(since: date | datetime, *, source: Any = None, limit: int | None = None) -> Iterator[ArticleRef]:
    """Article versions whose bucket metadata changed at or after `since` (bucket inventory)."""
    if source is None:
        from harvester.sources.s3_bucket import S3BucketSource

        source = S3BucketSource()
    # Inventory rows are unique keys, hence unique (pmcid, version) pairs.
    yield from _limit((ArticleRef(pmcid, version) for pmcid, version in source.iter_updated_since(since)), limit)


def discover(
    *,
    ids: Iterable[str] | None = None,
    query: str | None = None,
    since: date | datetime | None = None,
    limit: int | None = None,
    ncbi: NcbiClient | None = None,
    source: Any = None,
) -> Iterator[ArticleRef]:
    """The requested kinds of discovery chained (explicit IDs first), at most `limit`.

    Repeats across kinds are dropped when more than one kind is asked for.
    """
    streams: list[Iterator[ArticleRef]] = []
    if ids is not None:
        streams.append(iter_explicit_ids(ids, ncbi=ncbi))
    if query:
        streams.append(iter_search(query, ncbi=ncbi))
    if since is not None:
        streams.append(iter_since(since, source=source))
    chained = itertools.chain.from_iterable(streams)
    yield from (_dedupe_and_limit(chained, limit) if len(streams) > 1 else _limit(chained, limit))
