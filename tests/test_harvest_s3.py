"""`figmine harvest` end to end: a real S3 server (moto) on loopback holding a bucket-layout mirror of
real OA articles, into a real PostgreSQL, with broken articles beside good ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from support.s3_mirror import MIRROR_SOURCE, admin_client, moto_endpoint, unique_bucket  # noqa: F401
from support.sql import rows
from typer.testing import CliRunner

from figmine.cli import app
from pipeline.runner import EXIT_CODES
from harvester.sources.mirror_builder import build_mirror, load_articles

OLD = datetime(2025, 1, 1, tzinfo=UTC)
NEW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:  # noqa: F811
    base = load_articles(MIRROR_SOURCE)
    small = next(a for a in base if a.pmcid == "PMC3532326")
    pone = max((a for a in base if a.pmcid == "PMC2924383"), key=lambda a: a.version)
    extra = [
        # wrong md5 for one figure: a per-article error, nothing else lost
        replace(small, pmcid="PMC9000001", md5_overrides={"1756-0500-5-615-2.jpg": "0" * 32}, last_modified=OLD),
        # a PDF and no figure files: figures come from the PDF
        replace(pone, pmcid="PMC9000002", version=1, media={}, last_modified=NEW),
        # non-commercial licence
        replace(small, pmcid="PMC9000003", license_code="CC BY-NC", last_modified=OLD),
    ]
    name = unique_bucket()
    build_mirror(admin_client(moto_endpoint), base + extra, bucket=name, inventory_at=datetime(2026, 11, 25, tzinfo=UTC))
    return name


@pytest.fixture
def harvest_env(figmine_env, moto_endpoint, bucket, monkeypatch):  # noqa: F811
    from store import db

    monkeypatch.setenv("FIGMINE_PMC_S3_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("FIGMINE_PMC_BUCKET", bucket)
    monkeypatch.setenv("FIGMINE_RETRIES", "2")
    db.reset_caches()
    return figmine_env



def harvest(*args: str):
    result = CliRunner().invoke(app, ["harvest", *args], catch_exceptions=False)
    return result


def test_harvest_pmcids_from_bucket(harvest_env):
    url = harvest_env["url"]
    result = harvest("--pmcid", "PMC2924383", "PMC3532326", "PMC9000001", "PMC9000002", "--license", "any")
    assert result.exit_code == EXIT_CODES["partial"], result.output

    articles = {r.pmcid: r for r in rows(url, "SELECT pmcid, version, source, license_code, doi FROM articles")}
    assert set(articles) == {"PMC2924383", "PMC3532326", "PMC9000001", "PMC9000002"}
    assert articles["PMC2924383"].version == 2, "the highest version is harvested"
    assert articles["PMC2924383"].source == "s3" and articles["PMC2924383"].license_code == "CC BY"

    # a figure whose md5 is wrong costs that figure's image, not the article
    items = {r.item: r for r in rows(url, "SELECT item, status, reason FROM harvest_items")}
    assert items["PMC9000001"].status == "partial"
    assert "md5" in items["PMC9000001"].reason and "1756-0500-5-615-2.jpg" in items["PMC9000001"].reason
    images = rows(url, "SELECT f.jats_id, f.image_key, f.image_error FROM figures f JOIN articles a "
                       "ON a.id=f.article_id WHERE a.pmcid='PMC9000001' ORDER BY f.ordinal")
    assert [bool(f.image_key) for f in images] == [True, False], images
    assert "md5" in images[1].image_error

    figures = rows(url, "SELECT f.source, f.image_key, f.width FROM figures f JOIN articles a ON a.id=f.article_id "
                        "WHERE a.pmcid='PMC9000002'")
    assert figures and all(f.source == "pdf" and f.image_key and f.width > 0 for f in figures), figures

    # again: everything stored is skipped before any download, the broken one fails again
    again = harvest("--pmcid", "PMC2924383", "PMC3532326", "PMC9000001")
    assert again.exit_code == 0, again.output
    last = rows(url, "SELECT item, status, reason FROM harvest_items WHERE run_id = (SELECT max(id) FROM harvest_runs)")
    status = {r.item: r.status for r in last}
    # the partial one is fetched again (its figure may be there now) and found unchanged
    assert status == {"PMC2924383": "skipped", "PMC3532326": "skipped", "PMC9000001": "skipped"}
    assert all("already stored" in r.reason for r in last if r.status == "skipped")
    run = rows(url, "SELECT status, done, skipped, failed FROM harvest_runs ORDER BY id DESC LIMIT 1")[0]
    assert (run.status, run.done, run.skipped, run.failed) == ("finished", 0, 3, 0)


def test_harvest_licence_filter_and_since(harvest_env):
    url = harvest_env["url"]
    result = harvest("--pmcid", "PMC3532326", "PMC9000003", "--license", "commercial")
    assert result.exit_code == 0, result.output
    assert [r.pmcid for r in rows(url, "SELECT pmcid FROM articles")] == ["PMC3532326"]
    reason = rows(url, "SELECT reason FROM harvest_items WHERE item='PMC9000003'")[0].reason
    assert "CC BY-NC" in reason

    # the inventory says which versions changed since a date
    since = harvest("--since", "2026-02-01", "--limit", "10")
    assert since.exit_code == 0, since.output
    changed = {r.item for r in rows(url, "SELECT item FROM harvest_items WHERE run_id = (SELECT max(id) FROM harvest_runs)")}
    assert "PMC9000002.1" in changed and "PMC9000001.1" not in changed and "PMC9000003.1" not in changed


def test_harvest_query_through_esearch_and_pmids_through_id_converter(harvest_env, monkeypatch):
    from datetime import date

    from support.http_stub import HttpStub
    from support.ncbi_stub import IDCONV_PATH, FakeEutils, FakeIdConverter

    from store import db

    url = harvest_env["url"]
    with HttpStub() as stub:
        FakeEutils(records=[(2924383, date(2010, 8, 19)), (3532326, date(2012, 11, 1)),
                            (2958805, date(2010, 10, 21))]).install(stub)
        converter = FakeIdConverter()
        converter.add({"pmcid": "PMC2958805", "pmid": "20975938", "doi": "10.1371/journal.pcbi.1000960"})
        converter.install(stub)
        monkeypatch.setenv("FIGMINE_EUTILS_URL", f"{stub.url}/entrez/eutils")
        monkeypatch.setenv("FIGMINE_IDCONV_URL", f"{stub.url}{IDCONV_PATH}")
        monkeypatch.setenv("FIGMINE_NCBI_RATE", "100")
        db.reset_caches()

        result = harvest("--query", "sound AND vision", "--limit", "2")
        assert result.exit_code == 0, result.output
        assert len(rows(url, "SELECT pmcid FROM articles")) == 2
        term = stub.requests_to("/entrez/eutils/esearch.fcgi")[0].param("term")
        assert "open access[filter]" in term

        by_pmid = harvest("--pmid", "20975938")
        assert by_pmid.exit_code == 0, by_pmid.output
        assert "PMC2958805" in {r.pmcid for r in rows(url, "SELECT pmcid FROM articles")}
