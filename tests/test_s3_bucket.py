"""The PMC bucket source against a real S3 server (moto) on loopback, holding real OA articles."""

from __future__ import annotations


import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.s3_mirror import MIRROR_SOURCE, Fault, FaultProxy, admin_client, moto_endpoint, unique_bucket  # noqa: F401

from figmine.settings import Settings
from harvester.records import ArticleBundle, SourceError
from harvester.sources.mirror_builder import (
    INVENTORY_PREFIX,
    MirrorArticle,
    build_mirror,
    load_articles,
    write_inventory,
)
from harvester.sources.pmc_metadata import parse_metadata
from harvester.sources.s3_bucket import S3BucketSource

OLD = datetime(2025, 1, 1, tzinfo=UTC)
SMALL_FIGS = ["1756-0500-5-615-1.jpg", "1756-0500-5-615-2.jpg"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def settings_for(endpoint: str, **extra: str) -> Settings:
    values = {"FIGMINE_PMC_S3_ENDPOINT": endpoint, "FIGMINE_RETRIES": "4", "FIGMINE_HTTP_TIMEOUT": "5"}
    values.update(extra)
    return Settings(**values)


@dataclass
class Mirror:
    endpoint: str
    bucket: str
    articles: list[MirrorArticle]
    admin: Any


def fault_articles(base: list[MirrorArticle]) -> list[MirrorArticle]:
    """Clones of real articles under their own PMCIDs, each broken in one way."""
    small = next(a for a in base if a.pmcid == "PMC3532326")
    pone = next(a for a in base if a.pmcid == "PMC2924383" and a.version == 2)

    def clone(src: MirrorArticle, pmcid: str, **changes: Any) -> MirrorArticle:
        fields: dict[str, Any] = {"last_modified": OLD, "md5_overrides": {}, "omit": set(), **changes}
        return replace(src, pmcid=pmcid, **fields)

    return [
        clone(small, "PMC9000001", md5_overrides={SMALL_FIGS[1]: "0" * 32}),
        clone(small, "PMC9000002", omit={SMALL_FIGS[0]}),
        clone(small, "PMC9000003", xml=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
        clone(small, "PMC9000004"),  # 500s through the proxy
        clone(small, "PMC9000005"),  # corrupted once through the proxy
        clone(small, "PMC9000006"),  # answered too late once through the proxy
        clone(small, "PMC9000007"),  # truncated once through the proxy
        clone(pone, "PMC9000008", version=1, omit={"PMC9000008.1.pdf"}),
        clone(small, "PMC9000009", is_retracted=True, license_code="CC BY-NC"),
        clone(small, "PMC9000010"),  # metadata JSON only under metadata/
        clone(small, "PMC9000011"),  # 503 SlowDown through the proxy
        clone(small, "PMC7000"),  # PMC7000. must not match PMC70001.*
        clone(small, "PMC70001", version=3),
        clone(small, "PMC9000012", md5_overrides={"PMC9000012.1.xml": "0" * 32}),  # the article itself is wrong
    ]


@pytest.fixture(scope="module")
def mirror(moto_endpoint: str) -> Mirror:  # noqa: F811
    admin = admin_client(moto_endpoint)
    bucket = unique_bucket()
    base = load_articles(MIRROR_SOURCE)
    articles = base + fault_articles(base)
    build_mirror(admin, articles, bucket=bucket)
    admin.delete_object(Bucket=bucket, Key="PMC9000010.1/PMC9000010.1.json")
    return Mirror(moto_endpoint, bucket, articles, admin)


@pytest.fixture
def source(mirror: Mirror, tmp_path: Path) -> S3BucketSource:
    return S3BucketSource(tmp_path / "work", settings=settings_for(mirror.endpoint), bucket=mirror.bucket)


@pytest.fixture(scope="module")
def proxy(mirror: Mirror) -> FaultProxy:
    p = FaultProxy(mirror.endpoint)
    yield p
    p.close()


@pytest.fixture
def proxied(mirror: Mirror, proxy: FaultProxy, tmp_path: Path) -> S3BucketSource:
    # Short read timeout so that the "answered too late" fault costs one second, not thirty.
    s = settings_for(proxy.url, FIGMINE_HTTP_TIMEOUT="1")
    return S3BucketSource(tmp_path / "work", settings=s, bucket=mirror.bucket)


def assert_complete(bundle: ArticleBundle, names: list[str]) -> None:
    assert sorted(bundle.files) == sorted(names), f"files of {bundle.pmcid}: {sorted(bundle.files)}"
    for name, path in bundle.files.items():
        assert path.is_file(), f"{name} was not written to {path}"
        assert md5(path) == bundle.checksums[name], f"{name} does not match its metadata md5"


# -- happy path ------------------------------------------------------------------------------------


def test_fetch_takes_highest_version_with_xml_pdf_and_figures(source: S3BucketSource) -> None:
    bundle = source.fetch("PMC2924383")

    assert (bundle.source, bundle.pmcid, bundle.version) == ("s3", "PMC2924383", 2)
    assert bundle.origin.endswith("/PMC2924383.2/")
    assert bundle.xml_path.read_bytes() == (MIRROR_SOURCE / "PMC2924383/pone.0012255.nxml").read_bytes()
    assert bundle.pdf_path is not None and bundle.pdf_path.read_bytes()[:5] == b"%PDF-"
    assert_complete(bundle, [f"pone.0012255.g00{i}.jpg" for i in range(1, 5)])
    assert not any(name.endswith(".txt") for name in bundle.files), "the .txt rendering is not a media file"
    assert md5(bundle.xml_path) == bundle.checksums["PMC2924383.2.xml"]
    assert (bundle.pmid, bundle.doi) == ("20808861", "10.1371/journal.pone.0012255")
    assert (bundle.license_code, bundle.retracted) == ("CC BY", False)
    assert bundle.warnings == []
    leftovers = [p.name for p in bundle.xml_path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temp files left behind: {leftovers}"


def test_fetch_into_a_given_work_folder(source: S3BucketSource, tmp_path: Path) -> None:
    bundle = source.fetch("PMC3532326", work_dir=tmp_path / "item-7")
    assert bundle.xml_path == tmp_path / "item-7" / "PMC3532326.1" / "PMC3532326.1.xml"
    assert_complete(bundle, SMALL_FIGS)


def test_explicit_version_is_honoured(source: S3BucketSource) -> None:
    assert source.fetch("PMC2924383.1").version == 1
    assert source.fetch("pmc2924383", version=1).version == 1
    assert source.list_versions("PMC2924383") == [1, 2]


def test_version_prefix_of_a_shorter_pmcid_does_not_match_a_longer_one(source: S3BucketSource) -> None:
    assert source.list_versions("PMC7000") == [1]
    assert source.list_versions("PMC70001") == [3]
    assert source.fetch("PMC7000").version == 1


def test_article_without_pdf_and_retraction_flag(source: S3BucketSource) -> None:
    bundle = source.fetch("PMC9000009")
    assert bundle.pdf_path is None
    assert (bundle.retracted, bundle.license_code) == (True, "CC BY-NC")
    assert_complete(bundle, SMALL_FIGS)


def test_metadata_is_read_from_metadata_folder_when_missing_in_prefix(source: S3BucketSource) -> None:
    bundle = source.fetch("PMC9000010")
    assert bundle.version == 1
    assert_complete(bundle, SMALL_FIGS)


def test_missing_pdf_is_a_warning_not_a_failure(source: S3BucketSource) -> None:
    bundle = source.fetch("PMC9000008")
    assert bundle.pdf_path is None
    assert any("PMC9000008.1.pdf" in w and "missing" in w for w in bundle.warnings), bundle.warnings
    assert len(bundle.files) == 4


# -- failures --------------------------------------------------------------------------------------


def test_unknown_article_is_a_non_retriable_source_error(source: S3BucketSource) -> None:
    with pytest.raises(SourceError, match=r"PMC1\b.*not in s3://") as err:
        source.fetch("PMC1")
    assert err.value.retriable is False and err.value.pmcid == "PMC1"


def test_media_md5_mismatch_is_downloaded_twice_then_left_out(mirror: Mirror, proxy: FaultProxy,
                                                              proxied: S3BucketSource) -> None:
    bundle = proxied.fetch("PMC9000001")  # the article is complete without one picture: it comes, without it
    assert proxy.count(r"/PMC9000001\.1/1756-0500-5-615-2\.jpg$") == 2, "expected one re-download"
    assert sorted(bundle.files) == [SMALL_FIGS[0]]
    assert re.search(r"md5 mismatch for 1756-0500-5-615-2\.jpg", bundle.missing[SMALL_FIGS[1]])
    assert not list((proxied.work_dir / "PMC9000001.1").glob("*.part")), "no partial download is left behind"


def test_xml_md5_mismatch_fails_the_article(proxied: S3BucketSource) -> None:
    with pytest.raises(SourceError, match=r"md5 mismatch for PMC9000012\.1\.xml"):
        proxied.fetch("PMC9000012")
    assert not (proxied.work_dir / "PMC9000012.1").exists(), "a failed fetch must not leave files behind"


def test_missing_media_object_is_named_in_the_bundle(source: S3BucketSource) -> None:
    bundle = source.fetch("PMC9000002")
    assert sorted(bundle.files) == [SMALL_FIGS[1]]
    assert re.search(r"PMC9000002\.1: 1756-0500-5-615-1\.jpg is missing .*\(404\)", bundle.missing[SMALL_FIGS[0]])


def test_xml_object_that_is_not_xml_is_rejected(source: S3BucketSource) -> None:
    with pytest.raises(SourceError, match=r"PMC9000003\.1\.xml is not article XML"):
        source.fetch("PMC9000003")


def test_server_errors_are_retried_until_success(proxy: FaultProxy, proxied: S3BucketSource) -> None:
    proxy.add(Fault(r"/PMC9000004\.1/1756-0500-5-615-1\.jpg$", status=500, times=2))
    proxy.add(Fault(r"/PMC9000011\.1/PMC9000011\.1\.xml$", status=503, times=1))
    assert_complete(proxied.fetch("PMC9000004"), SMALL_FIGS)
    assert_complete(proxied.fetch("PMC9000011"), SMALL_FIGS)
    assert proxy.count(r"/PMC9000004\.1/1756-0500-5-615-1\.jpg$") == 3
    assert proxy.count(r"/PMC9000011\.1/PMC9000011\.1\.xml$") == 2


def test_corrupted_or_truncated_transfer_is_fetched_again(proxy: FaultProxy, proxied: S3BucketSource,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    proxy.add(Fault(r"/PMC9000005\.1/1756-0500-5-615-2\.jpg$", kind="corrupt"))
    proxy.add(Fault(r"/PMC9000007\.1/1756-0500-5-615-1\.jpg$", kind="truncate"))
    with caplog.at_level("WARNING", logger="harvester.sources.s3_bucket"):
        assert_complete(proxied.fetch("PMC9000005"), SMALL_FIGS)
    assert "md5 mismatch for 1756-0500-5-615-2.jpg (attempt 1/2)" in caplog.text
    assert_complete(proxied.fetch("PMC9000007"), SMALL_FIGS)
    assert proxy.count(r"/PMC9000005\.1/1756-0500-5-615-2\.jpg$") == 2
    assert proxy.count(r"/PMC9000007\.1/1756-0500-5-615-1\.jpg$") == 2


def test_answer_slower_than_the_read_timeout_is_retried(proxy: FaultProxy, proxied: S3BucketSource) -> None:
    proxy.add(Fault(r"/PMC9000006\.1/1756-0500-5-615-1\.jpg$", kind="delay", delay=1.6))
    assert_complete(proxied.fetch("PMC9000006"), SMALL_FIGS)
    assert proxy.count(r"/PMC9000006\.1/1756-0500-5-615-1\.jpg$") == 2


def test_broken_articles_do_not_affect_others_fetched_at_the_same_time(source: S3BucketSource) -> None:
    ids = ["PMC9000001", "PMC2958805", "PMC9000012", "PMC3532326", "PMC9000003", "PMC2924383", "PMC9000002"]

    def attempt(pmcid: str) -> ArticleBundle | SourceError:
        try:
            return source.fetch(pmcid)
        except SourceError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(zip(ids, pool.map(attempt, ids), strict=True))
    failed = sorted(k for k, v in results.items() if isinstance(v, SourceError))
    assert failed == ["PMC9000003", "PMC9000012"]  # not XML; the XML's md5 is wrong
    assert sorted(results["PMC9000001"].missing) == [SMALL_FIGS[1]]  # wrong md5 of a picture: without it
    assert sorted(results["PMC9000002"].missing) == [SMALL_FIGS[0]]  # a picture is not there (404)
    assert_complete(results["PMC2958805"], [f"pcbi.1000960.g00{i}.jpg" for i in range(1, 5)])
    assert_complete(results["PMC3532326"], SMALL_FIGS)
    assert results["PMC2924383"].version == 2


# -- incremental harvests --------------------------------------------------------------------------


def test_updated_since_reads_the_newest_inventory(mirror: Mirror, source: S3BucketSource) -> None:
    # An older report that, if it were read, would add an article dated in the future.
    ghost = replace(mirror.articles[0], pmcid="PMC5555555", last_modified=datetime(2027, 1, 1, tzinfo=UTC))
    write_inventory(mirror.admin, [ghost], when=datetime(2026, 1, 1, tzinfo=UTC), bucket=mirror.bucket)

    assert source.latest_inventory_manifest() == f"{INVENTORY_PREFIX}2026-02-22T10-48Z/manifest.json"
    assert set(source.iter_updated_since(date(2026, 2, 21))) == {("PMC2924383", 2)}
    assert set(source.iter_updated_since(date(2025, 12, 1))) == {
        ("PMC2924383", 2), ("PMC3532326", 1), ("PMC2958805", 1)}
    assert len(set(source.iter_updated_since(datetime(2024, 12, 31)))) == len(mirror.articles)


def test_updated_since_lists_metadata_when_there_is_no_inventory(moto_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    admin = admin_client(moto_endpoint)
    bucket = unique_bucket()
    build_mirror(admin, load_articles(MIRROR_SOURCE), bucket=bucket)
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="inventory-reports/"):
        for obj in page.get("Contents", []):
            admin.delete_object(Bucket=bucket, Key=obj["Key"])
    src = S3BucketSource(tmp_path, settings=settings_for(moto_endpoint), bucket=bucket)

    assert src.latest_inventory_manifest() is None
    now = datetime.now(UTC)
    assert sorted(src.iter_updated_since(now - timedelta(hours=1))) == [
        ("PMC2924383", 1), ("PMC2924383", 2), ("PMC2958805", 1), ("PMC3532326", 1)]
    assert list(src.iter_updated_since(now + timedelta(hours=1))) == []


# -- the builder's folder layout -------------------------------------------------------------------


def test_folder_mirror_has_bucket_layout_with_true_checksums(tmp_path: Path) -> None:
    summary = build_mirror(tmp_path, source_dir=MIRROR_SOURCE)
    assert sorted(summary.articles) == [("PMC2924383", 1), ("PMC2924383", 2), ("PMC2958805", 1), ("PMC3532326", 1)]
    for pmcid, version in summary.articles:
        stem = f"{pmcid}.{version}"
        inside = (tmp_path / stem / f"{stem}.json").read_bytes()
        assert inside == (tmp_path / "metadata" / f"{stem}.json").read_bytes()
        meta = parse_metadata(inside)
        for obj in [meta.xml, meta.text, *meta.media] + ([meta.pdf] if meta.pdf else []):
            assert md5(tmp_path / obj.key) == obj.md5, f"{obj.key}: md5 in metadata is wrong"
    manifest = json.loads((tmp_path / summary.manifest_key).read_text())
    assert manifest["fileSchema"] == "Bucket, Key, LastModifiedDate, ETag"
    data = tmp_path / manifest["files"][0]["key"]
    assert md5(data) == manifest["files"][0]["MD5checksum"]


def test_a_harvest_reads_each_articles_metadata_once(figmine_env, proxy: FaultProxy, proxied: S3BucketSource,
                                                     tmp_path: Path) -> None:
    from harvester.discovery import ArticleRef
    from pipeline.harvest import RemoteFetcher
    from store.db import session_factory

    fetcher = RemoteFetcher(session_factory(), s3=proxied, use_europepmc=False)
    before = proxy.count(r"/PMC9000004\.1/PMC9000004\.1\.json$")  # the proxy serves the whole module
    bundle = fetcher.fetch(ArticleRef("PMC9000004"), tmp_path / "item")  # the skip check reads it first
    assert_complete(bundle, SMALL_FIGS)
    assert proxy.count(r"/PMC9000004\.1/PMC9000004\.1\.json$") - before == 1
