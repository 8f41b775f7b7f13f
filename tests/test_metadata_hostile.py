"""Hostile bucket metadata JSON (wrong types, huge numbers, 100,000-deep nesting) costs its own article
only: `parse_metadata` refuses it with a one-line reason, and `figmine ingest` of a mirror folder and
`figmine harvest` from a loopback S3 server go on with the real articles beside it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from support.s3_mirror import MIRROR_SOURCE, admin_client, moto_endpoint, unique_bucket  # noqa: F401
from support.sql import rows
from typer.testing import CliRunner

from figmine.cli import app
from harvester.records import SourceError
from harvester.sources.mirror_builder import build_mirror, load_articles, metadata_json
from harvester.sources.pmc_metadata import parse_metadata
from harvester.sources.s3_bucket import S3BucketSource

REAL_SAMPLES = Path(__file__).parent / "fixtures" / "oa-service" / "s3_cloud"
DEEP = 100_000
# What a crash would have shown instead of a reason.
CRASH_WORDS = ("Traceback", "TypeError", "RecursionError", "OverflowError", "maximum recursion", "int()")


def _swap(doc: dict, key: str, literal: str) -> str:
    """`doc` as JSON text with `key`'s value replaced by a raw JSON literal (json.dumps cannot write
    1e400 or a 10,000-digit number as the attacker does)."""
    marker = "\u2063swap\u2063"
    return json.dumps({**doc, key: marker}).replace(json.dumps(marker), literal)


def hostile_documents(base: dict) -> dict[str, tuple[str, str]]:
    """name -> (document text, what its one-line reason must name), each built from a real document."""
    nested = "[" * DEEP + "]" * DEEP
    return {
        "version-list": (json.dumps({**base, "version": [base["version"]]}), "'version'"),
        "media-number": (json.dumps({**base, "media_urls": 5}), "'media_urls'"),
        "media-item-object": (json.dumps({**base, "media_urls": [{"url": "x"}]}), "'media_urls[0]'"),
        "pmcid-object": (json.dumps({**base, "pmcid": {}}), "'pmcid'"),
        "xml-url-number": (json.dumps({**base, "xml_url": 7}), "'xml_url'"),
        "title-array": (json.dumps({**base, "title": ["a"]}), "'title'"),
        "retracted-string": (json.dumps({**base, "is_retracted": "no"}), "'is_retracted'"),
        "version-1e30": (_swap(base, "version", "1e30"), "'version'"),
        "version-zero": (json.dumps({**base, "version": 0}), "'version'"),
        "pmid-1e400": (_swap(base, "pmid", "1e400"), "'pmid'"),
        "version-10000-digits": (_swap(base, "version", "9" * 10_000), "number out of range"),
        "pmcid-4000-digits": (_swap(base, "pmcid", "7" * 4_000), "'pmcid'"),
        "nested-document": (nested, "nested too deeply"),
        "nested-field": (_swap(base, "citation", nested), "nested too deeply"),
        "not-an-object": (json.dumps([base]), "not an object"),
        "no-pmcid": (json.dumps({k: v for k, v in base.items() if k != "pmcid"}), "'pmcid'"),
    }


def _sample() -> dict:
    return json.loads((REAL_SAMPLES / "PMC12855588.1.json").read_bytes())


def _assert_clear(reason: str, names: str) -> None:
    assert names in reason, f"the reason does not name {names}: {reason[:300]}"
    assert "\n" not in reason and len(reason) < 400, f"not one short line: {reason[:600]!r}"
    assert not any(word in reason for word in CRASH_WORDS), reason[:300]


# --- the parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(hostile_documents(_sample())))
def test_each_hostile_shape_is_one_clear_value_error(name: str) -> None:
    text, names = hostile_documents(_sample())[name]
    for raw in (text, text.encode()):
        with pytest.raises(ValueError) as caught:
            parse_metadata(raw)
        assert type(caught.value) is ValueError, f"{type(caught.value).__name__} is not a plain ValueError"
        _assert_clear(str(caught.value), names)


def test_what_real_metadata_holds_is_accepted() -> None:
    for path in sorted(REAL_SAMPLES.glob("*.json")):
        assert parse_metadata(path.read_bytes()).xml is not None, path.name
    base = _sample()
    # the PMID as a number (the bucket), as a string (older mirrors), null or empty; nulls elsewhere
    assert parse_metadata({**base, "pmid": 41623473}).pmid == "41623473"
    assert parse_metadata({**base, "pmid": "41623473"}).pmid == "41623473"
    nulls = parse_metadata({**base, "pmid": None, "mid": None, "doi": "", "license_code": None,
                            "is_retracted": None, "is_pmc_openaccess": None, "pdf_url": None, "media_urls": None})
    assert (nulls.pmid, nulls.mid, nulls.doi, nulls.license_code, nulls.pdf, nulls.media) == (
        None, None, None, None, None, [])
    assert nulls.is_openaccess and not nulls.is_retracted
    # only pmcid is required; unknown keys (is_historical_ocr, future ones) are ignored
    bare = parse_metadata(b'{"pmcid": "PMC12855588", "future_key": {"a": [1, 2]}}')
    assert (bare.pmcid, bare.version, bare.xml, bare.media) == ("PMC12855588", 1, None, [])
    # a byte-order mark or UTF-16, as json.loads accepted them
    text = (REAL_SAMPLES / "PMC12855588.1.json").read_text()
    assert parse_metadata(text.encode("utf-8-sig")).version == parse_metadata(text.encode("utf-16")).version == 1


# --- a mirror folder through `figmine ingest` ------------------------------------------------------


def _write_hostile_mirror(dest: Path | object, bucket: str | None = None) -> dict[str, tuple[str, str]]:
    """The fixture articles in bucket layout, to a folder or an S3 client, plus one copy of PMC3532326
    per hostile document under its own PMCID, whose metadata JSON (both copies) is that document.
    Returns PMCID -> (the document's name, what its reason must name)."""
    base = load_articles(MIRROR_SOURCE)
    small = next(a for a in base if a.pmcid == "PMC3532326")
    names = sorted(hostile_documents(_sample()))
    clones = {f"PMC{9_400_000 + n}": replace(small, pmcid=f"PMC{9_400_000 + n}") for n in range(1, len(names) + 1)}
    extra = {} if bucket is None else {"bucket": bucket}
    build_mirror(dest, [*base, *clones.values()], **extra)
    expected = {}
    for (pmcid, clone), name in zip(clones.items(), names, strict=True):
        text, must_name = hostile_documents(metadata_json(clone))[name]
        for key in (f"{pmcid}.1/{pmcid}.1.json", f"metadata/{pmcid}.1.json"):
            if isinstance(dest, Path):
                (dest / key).write_text(text)
            else:
                dest.put_object(Bucket=bucket, Key=key, Body=text.encode(), ACL="public-read")
        expected[pmcid] = (name, must_name)
    return expected


def test_ingest_of_a_mirror_with_hostile_metadata_goes_on(figmine_env, tmp_path: Path) -> None:
    url = figmine_env["url"]
    mirror = tmp_path / "mirror"
    expected = _write_hostile_mirror(mirror)

    result = CliRunner().invoke(app, ["ingest", str(mirror), "--no-detect", "--no-concepts"],
                                catch_exceptions=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert not any(word in result.output for word in CRASH_WORDS), result.output[-2000:]

    stored = {r.pmcid: r.version for r in rows(url, "SELECT pmcid, version FROM articles")}
    assert stored == {"PMC2924383": 2, "PMC2958805": 1, "PMC3532326": 1}
    assert rows(url, "SELECT count(*) AS n FROM figures WHERE image_key IS NOT NULL")[0].n == 10
    items = {r.item: r for r in rows(url, "SELECT item, status, reason FROM harvest_items")}
    for pmcid, (name, names) in expected.items():
        item = items[str(mirror / f"{pmcid}.1")]
        assert item.status == "failed", (name, item)
        _assert_clear(item.reason, names)
        assert f"{pmcid}.1.json" in item.reason, item.reason
    run = rows(url, "SELECT status, failed FROM harvest_runs")[0]
    assert (run.status, run.failed) == ("finished", len(expected))


# --- the same documents in a bucket, through `figmine harvest` ----------------------------------------


@pytest.fixture(scope="module")
def hostile_bucket(moto_endpoint: str) -> tuple[str, dict[str, tuple[str, str]]]:  # noqa: F811
    bucket = unique_bucket()
    return bucket, _write_hostile_mirror(admin_client(moto_endpoint), bucket)


def test_s3_source_refuses_each_hostile_document(moto_endpoint, hostile_bucket, tmp_path) -> None:  # noqa: F811
    from figmine.settings import Settings

    bucket, expected = hostile_bucket
    source = S3BucketSource(tmp_path, settings=Settings(FIGMINE_PMC_S3_ENDPOINT=moto_endpoint, FIGMINE_RETRIES="2"),
                            bucket=bucket)
    for pmcid, (name, names) in expected.items():
        with pytest.raises(SourceError) as caught:
            source.fetch(pmcid)
        _assert_clear(str(caught.value), names)
        assert caught.value.pmcid == pmcid, name
    assert source.fetch("PMC3532326", work_dir=tmp_path / "good").xml_path.is_file()


def test_harvest_from_a_bucket_with_hostile_metadata_goes_on(figmine_env, moto_endpoint, hostile_bucket,  # noqa: F811
                                                             monkeypatch) -> None:
    from store import db

    bucket, expected = hostile_bucket
    monkeypatch.setenv("FIGMINE_PMC_S3_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("FIGMINE_PMC_BUCKET", bucket)
    monkeypatch.setenv("FIGMINE_RETRIES", "2")
    db.reset_caches()
    url = figmine_env["url"]

    result = CliRunner().invoke(
        app, ["harvest", "--pmcid", "PMC3532326", "PMC2958805", *expected, "--no-detect", "--no-concepts"],
        catch_exceptions=False)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert not any(word in result.output for word in CRASH_WORDS), result.output[-2000:]

    assert {r.pmcid for r in rows(url, "SELECT pmcid FROM articles")} == {"PMC3532326", "PMC2958805"}
    items = {r.item: r for r in rows(url, "SELECT item, status, reason FROM harvest_items")}
    for pmcid, (name, names) in expected.items():
        assert items[pmcid].status == "failed", (name, items[pmcid])
        _assert_clear(items[pmcid].reason, names)
        assert "unusable metadata JSON" in items[pmcid].reason, items[pmcid].reason
