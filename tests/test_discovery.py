"""Discovery of articles: explicit IDs, E-utilities search, bucket inventory. Loopback servers only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support.http_stub import HttpStub, StubResponse
from support.ncbi_stub import ESEARCH_PATH, IDCONV_OLD_PATH, IDCONV_PATH, FakeEutils, FakeIdConverter
from support.s3_mirror import MIRROR_SOURCE, admin_client, moto_endpoint, unique_bucket  # noqa: F401

from figmine.settings import Settings
from harvester.discovery import (
    ArticleRef,
    EutilsError,
    IdConverterError,
    NcbiClient,
    classify_id,
    discover,
    iter_explicit_ids,
    iter_search,
    iter_since,
)
from harvester.http import RetryPolicy, make_client
from harvester.ratelimit import TokenBucket
from harvester.sources.mirror_builder import build_mirror, load_articles
from harvester.sources.s3_bucket import S3BucketSource

FAST = RetryPolicy(attempts=3, initial_delay=0.02, jitter=0.0)


def records(n: int, first_day: date = date(1990, 1, 1)) -> list[tuple[int, date]]:
    """n UIDs published one per day from `first_day` on, in the server's (descending) order."""
    return [(5_000_000 + i, first_day + timedelta(days=i)) for i in reversed(range(n))]


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub() as s:
        yield s


def ncbi_for(stub: HttpStub, *, rate: float = 1000, idconv_path: str = IDCONV_PATH) -> NcbiClient:
    settings = Settings(
        FIGMINE_EUTILS_URL=f"{stub.url}/entrez/eutils",
        FIGMINE_IDCONV_URL=f"{stub.url}{idconv_path}",
        NCBI_API_KEY="test-key",
        NCBI_EMAIL="figmine@example.org",
        NCBI_TOOL="figmine-tests",
    )
    return NcbiClient(settings=settings, client=make_client(settings=settings), limiter=TokenBucket(rate),
                      policy=FAST)


# -- identifiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("PMC2924383", ("pmcid", "PMC2924383")),
    ("pmc2924383.2", ("pmcid", "PMC2924383.2")),
    ("20808861", ("pmid", "20808861")),
    ("PMID: 20808861", ("pmid", "20808861")),
    ("10.1371/journal.pone.0012255", ("doi", "10.1371/journal.pone.0012255")),
    ("https://doi.org/10.1038/ng.590", ("doi", "10.1038/ng.590")),
    ("doi:10.1038/ng.590", ("doi", "10.1038/ng.590")),
])
def test_identifiers_are_classified(value: str, expected: tuple[str, str]) -> None:
    assert classify_id(value) == expected


def test_unreadable_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PMCID, PMID or DOI: 'banana'"):
        classify_id("banana")


def test_pmcids_need_no_request(stub: HttpStub) -> None:
    refs = list(iter_explicit_ids(["PMC2924383", "pmc3532326.1", "PMC2924383"], ncbi=ncbi_for(stub)))
    assert refs == [ArticleRef("PMC2924383"), ArticleRef("PMC3532326", 1)]
    assert str(refs[1]) == "PMC3532326.1"
    assert stub.requests == []


def test_pmids_and_dois_go_through_the_id_converter(stub: HttpStub) -> None:
    FakeIdConverter.with_fixture().install(stub)
    refs = list(iter_explicit_ids(["20495566", "10.1038/NG.590", "99999999", "PMC1"], ncbi=ncbi_for(stub)))
    # the PMID and the DOI name the same article: it is yielded once; the unknown PMID is skipped
    assert refs == [ArticleRef("PMC1"), ArticleRef("PMC2883744")]
    calls = stub.requests_to(IDCONV_PATH)
    assert [c.param("idtype") for c in calls] == ["pmid", "doi"]
    for call in calls:
        assert (call.param("format"), call.param("tool"), call.param("email"), call.param("api_key")) == (
            "json", "figmine-tests", "figmine@example.org", "test-key")


def test_id_converter_batches_at_most_200_ids(stub: HttpStub) -> None:
    fake = FakeIdConverter()
    for pmid in range(1, 451):
        fake.add({"pmcid": f"PMC{pmid + 1_000_000}", "pmid": str(pmid)})
    fake.install(stub)
    refs = list(iter_explicit_ids([str(p) for p in range(1, 451)], ncbi=ncbi_for(stub)))
    assert len(refs) == 450 and refs[0] == ArticleRef("PMC1000001")
    sizes = [len(c.param("ids").split(",")) for c in stub.requests_to(IDCONV_PATH)]
    assert sizes == [200, 200, 50]


def test_old_id_converter_url_is_followed_through_its_redirect(stub: HttpStub) -> None:
    FakeIdConverter.with_fixture().install(stub)
    refs = list(iter_explicit_ids(["20495566"], ncbi=ncbi_for(stub, idconv_path=IDCONV_OLD_PATH)))
    assert refs == [ArticleRef("PMC2883744")]
    assert len(stub.requests_to(IDCONV_OLD_PATH)) == 1 and len(stub.requests_to(IDCONV_PATH)) == 1


def test_id_converter_error_is_explained(stub: HttpStub) -> None:
    stub.route(IDCONV_PATH, StubResponse.json({"status": "error", "message": "invalid format"}))
    with pytest.raises(IdConverterError, match="invalid format"):
        list(iter_explicit_ids(["20495566"], ncbi=ncbi_for(stub)))


# -- search ----------------------------------------------------------------------------------------


def test_search_pages_through_the_history_server(stub: HttpStub) -> None:
    fake = FakeEutils(records(2500))
    fake.install(stub)
    refs = list(iter_search("zebrafish", ncbi=ncbi_for(stub), page_size=1000))

    assert len(refs) == 2500 and len(set(refs)) == 2500
    assert refs[0] == ArticleRef("PMC5002499") and refs[-1] == ArticleRef("PMC5000000")
    calls = stub.requests_to(ESEARCH_PATH)
    assert [(c.param("term"), c.param("retstart")) for c in calls] == [
        ("(zebrafish) AND open access[filter]", "0"), ("#1", "1000"), ("#1", "2000")]
    assert all(c.param("usehistory") == "y" and c.param("retmode") == "json" for c in calls)
    assert calls[1].param("WebEnv") == calls[2].param("WebEnv") == "MCID_0001_fake"
    assert all(c.param("api_key") == "test-key" and c.param("tool") == "figmine-tests" for c in calls)


def test_search_is_lazy_and_limited(stub: HttpStub) -> None:
    FakeEutils(records(2500)).install(stub)
    assert len(list(iter_search("zebrafish", ncbi=ncbi_for(stub), limit=5, page_size=1000))) == 5
    assert len(stub.requests_to(ESEARCH_PATH)) == 1
    assert len(list(iter_search("zebrafish", ncbi=ncbi_for(stub), limit=1500, page_size=1000))) == 1500
    assert len(stub.requests_to(ESEARCH_PATH)) == 3, "the third page must not be requested"


def test_search_beyond_a_retstart_cap_continues_by_date_windows(stub: HttpStub) -> None:
    # 24,000 daily records from 1990 to 2055: dates ahead of today must not be lost either.
    fake = FakeEutils(records(24_000), retstart_cap=9998)
    fake.install(stub)
    refs = list(iter_search("marathon", ncbi=ncbi_for(stub), page_size=5000))
    assert len(refs) == 24_000 and len(set(refs)) == 24_000, "every record once, none lost, none repeated"
    windows = [c for c in stub.requests_to(ESEARCH_PATH) if c.param("mindate")]
    assert len(windows) >= 3 and all(c.param("datetype") == "pdat" for c in windows), "no bisection happened"
    refused = [c for c in stub.requests_to(ESEARCH_PATH) if int(c.param("retstart")) > 9998]
    assert len(refused) == 1, "after the first refusal no request may go past the cap"


def test_esearch_error_body_raises_with_the_servers_message(stub: HttpStub) -> None:
    FakeEutils(records(10)).install(stub)
    with pytest.raises(EutilsError, match=r"esearch .*fleegle.* failed: Invalid query: fleegle\[mesh\]"):
        list(iter_search("fleegle[mesh]", ncbi=ncbi_for(stub)))


def test_esearch_html_answer_is_an_error(stub: HttpStub) -> None:
    stub.route(ESEARCH_PATH, StubResponse(200, "<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(EutilsError, match="answer is not JSON"):
        list(iter_search("zebrafish", ncbi=ncbi_for(stub)))


def test_rate_limit_answer_is_retried_after_retry_after(stub: HttpStub) -> None:
    FakeEutils(records(30), rate_limited_first=1).install(stub)
    started = time.monotonic()
    refs = list(iter_search("zebrafish", ncbi=ncbi_for(stub)))
    assert len(refs) == 30
    assert time.monotonic() - started >= 0.95
    calls = stub.requests_to(ESEARCH_PATH)
    assert calls[1].at - calls[0].at >= 0.95


def test_requests_are_spaced_by_the_shared_limiter(stub: HttpStub) -> None:
    FakeEutils(records(100)).install(stub)
    ncbi = ncbi_for(stub, rate=10)
    started = time.monotonic()
    refs = list(iter_search("zebrafish", ncbi=ncbi, page_size=10))  # 10 requests
    elapsed = time.monotonic() - started
    assert len(refs) == 100
    arrivals = [c.at for c in stub.requests_to(ESEARCH_PATH)]
    assert len(arrivals) == 10
    assert elapsed >= 0.85, f"10 requests at 10/s took only {elapsed:.2f}s"
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.07, f"requests closer than the limiter allows: {min(gaps):.3f}s"


def test_ncbi_default_rate_without_key_is_three_per_second(stub: HttpStub) -> None:
    FakeEutils(records(40)).install(stub)
    settings = Settings(FIGMINE_EUTILS_URL=f"{stub.url}/entrez/eutils")
    ncbi = NcbiClient(settings=settings, client=make_client(settings=settings), policy=FAST)
    started = time.monotonic()
    assert len(list(iter_search("zebrafish", ncbi=ncbi, page_size=10))) == 40  # 4 requests
    assert time.monotonic() - started >= 0.95


# -- since -----------------------------------------------------------------------------------------


def test_since_yields_versions_from_the_bucket_inventory(moto_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    bucket = unique_bucket()
    build_mirror(admin_client(moto_endpoint), load_articles(MIRROR_SOURCE), bucket=bucket)
    source = S3BucketSource(tmp_path, settings=Settings(FIGMINE_PMC_S3_ENDPOINT=moto_endpoint), bucket=bucket)
    assert list(iter_since(date(2026, 2, 21), source=source)) == [ArticleRef("PMC2924383", 2)]
    assert len(list(iter_since(datetime(2020, 1, 1, tzinfo=UTC), source=source, limit=2))) == 2

    combined = list(discover(ids=["PMC2924383.2", "PMC1"], since=date(2026, 2, 19), source=source))
    assert combined == [ArticleRef("PMC2924383", 2), ArticleRef("PMC1"), ArticleRef("PMC3532326", 1)]
