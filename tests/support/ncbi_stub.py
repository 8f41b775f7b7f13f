"""Fake E-utilities ESearch (with a history server) and PMC ID converter, served by `HttpStub`.

Response shapes follow the real services (FORMATS.md §5; samples in tests/fixtures/oa-service): ESearch JSON
`{"header": {...}, "esearchresult": {"count": "..", "retmax": "..", "retstart": "..", "querykey": "..",
"webenv": "..", "idlist": [...]}}` with counts as strings and PMC UIDs without the "PMC" prefix; errors
as HTTP 200 `{"esearchresult": {"ERROR": "..."}}`; rate-limit answers as 429 `{"error": "API rate limit
exceeded", ...}`. ID converter records as in idconv/PMC2883744_2013.json plus the current API's
`requested-id`, and `status`/`errmsg` for identifiers not in PMC.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from support.http_stub import HttpStub, StubRequest, StubResponse

OA_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oa-service"
ESEARCH_PATH = "/entrez/eutils/esearch.fcgi"
IDCONV_PATH = "/tools/idconv/api/v1/articles/"
IDCONV_OLD_PATH = "/pmc/utils/idconv/v1.0/"
OPEN_ACCESS = "AND open access[filter]"
# The real message PubMed sends for retstart > 9998 (quoted by users of the API).
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can only "
    "retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, consider "
    "using EDirect that contains additional logic to batch PubMed search results automatically so that an "
    "arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)


def _esearch_json(result: dict) -> StubResponse:
    return StubResponse.json({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result})


@dataclass
class FakeEutils:
    """ESearch over a fixed set of (uid, publication date), open-access filter required."""

    records: list[tuple[int, date]]
    retstart_cap: int | None = None  # refuse retstart above this (PubMed's 9998)
    rate_limited_first: int = 0  # answer this many first requests with 429 + Retry-After
    histories: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _webenv_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def install(self, stub: HttpStub) -> None:
        stub.route(ESEARCH_PATH, self.esearch)

    def esearch(self, req: StubRequest) -> StubResponse:
        with self._lock:
            if self.rate_limited_first > 0:
                self.rate_limited_first -= 1
                return StubResponse.json({"error": "API rate limit exceeded", "api-key": "127.0.0.1",
                                          "count": "4", "limit": "3"}, status=429, **{"Retry-After": "1"})
        if req.param("db") != "pmc":
            return _esearch_json({"ERROR": f"Invalid db name specified: {req.param('db')}"})
        if req.param("retmode") != "json":
            return StubResponse(400, "this fake speaks JSON only")
        term = req.param("term") or ""
        retstart = int(req.param("retstart", "0"))
        retmax = int(req.param("retmax", "20"))
        if self.retstart_cap is not None and retstart > self.retstart_cap:
            return _esearch_json({"ERROR": RETSTART_ERROR})
        webenv = req.param("WebEnv")
        if term.startswith("#"):
            with self._lock:
                uids = self.histories.get(webenv or "", {}).get(term[1:])
            if uids is None:
                return _esearch_json({"ERROR": f"Unable to obtain query #{term[1:]}"})
        elif "fleegle" in term:
            return _esearch_json({"ERROR": "Invalid query: fleegle[mesh] is not a valid field"})
        elif not term.endswith(OPEN_ACCESS):
            return _esearch_json({"ERROR": "this fake only answers open-access queries"})
        else:
            lo = _pdat(req.param("mindate"), date.min)
            hi = _pdat(req.param("maxdate"), date.max)
            uids = [str(uid) for uid, day in self.records if lo <= day <= hi]
        result: dict = {"count": str(len(uids)), "retmax": str(len(uids[retstart:retstart + retmax])),
                        "retstart": str(retstart), "idlist": uids[retstart:retstart + retmax],
                        "translationset": [], "querytranslation": term}
        if req.param("usehistory") == "y":
            with self._lock:
                if not webenv or webenv not in self.histories:
                    webenv = f"MCID_{next(self._webenv_ids):04d}_fake"
                    self.histories[webenv] = {}
                key = str(len(self.histories[webenv]) + 1)
                self.histories[webenv][key] = uids
            result.update({"querykey": key, "webenv": webenv})
        return _esearch_json(result)


def _pdat(value: str | None, default: date) -> date:
    return datetime.strptime(value, "%Y/%m/%d").date() if value else default


@dataclass
class FakeIdConverter:
    """The current ID converter; the old v1.0 path answers 301 to it, as the real one does."""

    by_pmid: dict[str, dict] = field(default_factory=dict)
    by_doi: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def with_fixture(cls) -> FakeIdConverter:
        fake = cls()
        sample = json.loads((OA_FIXTURES / "idconv/PMC2883744_2013.json").read_text())
        for record in sample["records"]:
            fake.add(record)
        return fake

    def add(self, record: dict) -> None:
        if record.get("pmid"):
            self.by_pmid[str(record["pmid"])] = record
        if record.get("doi"):
            self.by_doi[record["doi"].lower()] = record

    def install(self, stub: HttpStub) -> None:
        stub.route(IDCONV_PATH, self.convert)

        def moved(req: StubRequest) -> StubResponse:
            query = "&".join(f"{k}={v}" for k, values in req.query.items() for v in values)
            return StubResponse(301, "", {"Location": f"{stub.url}{IDCONV_PATH}?{query}"})

        stub.route(IDCONV_OLD_PATH, moved)

    def convert(self, req: StubRequest) -> StubResponse:
        ids = [i for i in (req.param("ids") or "").split(",") if i]
        idtype = req.param("idtype")
        if req.param("format") != "json":
            return StubResponse(200, "<pmcids status='ok'/>", {"Content-Type": "application/xml"})
        if len(ids) > 200:
            return StubResponse.json({"status": "error", "message": "too many ids (max 200)"}, status=400)
        table = self.by_doi if idtype == "doi" else self.by_pmid
        records = []
        for requested in ids:
            record = table.get(requested.lower())
            if record is None:
                records.append({"requested-id": requested, "status": "error",
                                "errmsg": "Identifier not found in PMC"})
            else:
                records.append({"requested-id": requested, **record})
        return StubResponse.json({"status": "ok", "responseDate": "2026-11-28 04:00:00",
                                  "request": f"ids={','.join(ids)};format=json", "records": records})
