"""The write side of the REST API: API keys, harvest jobs (from a loopback S3 mirror of real articles)
and export jobs with their downloads, against a real PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from support.s3_mirror import mirror_bucket, moto_endpoint  # noqa: F401  (moto_endpoint: a fixture)
from typer.testing import CliRunner

from api.keys import create_api_key, list_api_keys, revoke_api_key, verify_api_key
from figmine.cli import app as cli_app
from store.models import ApiKey

FIXTURES = Path(__file__).parent / "fixtures"
PROBLEM = "application/problem+json"


@pytest.fixture
def engine(figmine_env):
    engine = create_engine(figmine_env["url"])
    yield engine
    engine.dispose()


def new_key(engine, name: str = "test") -> str:
    with Session(engine) as s, s.begin():
        _, token = create_api_key(s, name)
    return token


def make_client(**settings_values):
    from api.app import create_app
    from figmine.settings import Settings

    return TestClient(create_app(Settings(**settings_values)))


def wait_for(client, url: str, key: str, *, until=("finished", "failed", "interrupted"), timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url, headers={"X-API-Key": key}).json()
        if body["status"] in until:
            return body
        assert time.monotonic() < deadline, f"job still {body['status']} after {timeout} s: {body}"
        time.sleep(0.2)


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


# -- keys --------------------------------------------------------------------------------------------
def test_keys_are_stored_hashed_and_can_be_revoked(engine):
    with Session(engine) as s, s.begin():
        info, token = create_api_key(s, "alice laptop")
    assert token.startswith("fm_") and len(token) > 40 and info.prefix == token[:12]
    with Session(engine) as s:
        row = s.execute(select(ApiKey)).scalar_one()
        assert row.key_hash != token and token not in row.key_hash and len(row.key_hash) == 64
    with Session(engine) as s, s.begin():
        assert verify_api_key(s, token).name == "alice laptop"
        assert verify_api_key(s, token + "x") is None
        assert verify_api_key(s, "fm_" + "A" * 43) is None
        assert verify_api_key(s, None) is None
    with Session(engine) as s:
        assert s.execute(select(ApiKey.last_used_at)).scalar_one() is not None
    with Session(engine) as s, s.begin():
        assert [k.name for k in revoke_api_key(s, info.prefix)] == ["alice laptop"]
    with Session(engine) as s, s.begin():
        assert verify_api_key(s, token) is None
        assert list_api_keys(s)[0].revoked is True
        assert revoke_api_key(s, info.prefix) == []  # already revoked


def test_writes_need_a_valid_key(engine):
    token = new_key(engine)
    with make_client() as c:
        r = c.post("/harvests", json={"pmcid": ["PMC2924383"]})
        assert assert_problem(r, 401)["status"] == 401 and "X-API-Key" in r.headers["www-authenticate"]
        assert_problem(c.post("/harvests", json={"pmcid": ["PMC2924383"]}, headers={"X-API-Key": "fm_nope"}), 403)
        assert_problem(c.get("/harvests/1"), 401)
        assert_problem(c.post("/exports", json={"format": "jsonl"}), 401)
        assert_problem(c.get("/exports/1", headers={"X-API-Key": "wrong"}), 403)
        # a valid key gets past auth: here to a 404 / 422 of the request itself
        assert_problem(c.get("/harvests/12345", headers={"X-API-Key": token}), 404)
        assert_problem(c.post("/harvests", json={}, headers={"X-API-Key": token}), 422)
        assert_problem(c.post("/harvests", json={"pmcid": ["not-an-id"]}, headers={"X-API-Key": token}), 422)
        assert_problem(c.post("/harvests", json={"pmcid": ["PMC1"], "license": "some"},
                              headers={"X-API-Key": token}), 422)
        with Session(engine) as s, s.begin():
            revoke_api_key(s, token)
        assert_problem(c.get("/harvests/12345", headers={"X-API-Key": token}), 403)
        # reads stay open by default
        assert c.get("/figures").status_code == 200


def test_reads_can_be_closed(engine):
    token = new_key(engine)
    with make_client(FIGMINE_API_READ_OPEN=False) as c:
        assert_problem(c.get("/figures"), 401)
        assert_problem(c.get("/stats", headers={"X-API-Key": "fm_wrong"}), 403)
        assert c.get("/figures", headers={"X-API-Key": token}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


# -- harvests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:  # noqa: F811
    return mirror_bucket(moto_endpoint, broken_pmcid="PMC9000001")


def test_harvest_job_runs_in_the_background_with_progress(figmine_env, engine, moto_endpoint, bucket,  # noqa: F811
                                                          monkeypatch):
    from store import db

    monkeypatch.setenv("FIGMINE_PMC_S3_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("FIGMINE_PMC_BUCKET", bucket)
    monkeypatch.setenv("FIGMINE_RETRIES", "2")
    db.reset_caches()
    token = new_key(engine)
    with make_client() as c:
        r = c.post("/harvests", json={"pmcid": ["PMC2924383", "PMC3532326", "PMC9000001"], "license": "commercial"},
                   headers={"X-API-Key": token})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        assert r.headers["location"] == f"/harvests/{run_id}" == r.json()["url"]
        body = wait_for(c, f"/harvests/{run_id}", token)
        c.app.state.jobs.wait(30)
        assert body["status"] == "finished", body
        assert (body["total"], body["done"], body["skipped"], body["failed"], body["processed"]) == (3, 3, 0, 0, 3)
        assert body["partial"] == 1, body  # one picture of PMC9000001 has a wrong md5: stored without it
        assert body["params"]["ids"] == ["PMC2924383", "PMC3532326", "PMC9000001"]
        assert body["params"]["detect"] is True and body["params"]["concepts"] is True
        [error] = body["recent_errors"]
        assert error["item"] == "PMC9000001" and error["status"] == "partial" and "md5" in error["reason"]
        # what it stored is served right away, split into panels and annotated (the CLI's later stages)
        pmcids = {a["pmcid"] for a in c.get("/articles").json()["items"]}
        assert pmcids == {"PMC2924383", "PMC3532326", "PMC9000001"}
        with engine.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FILTER (WHERE detected_at IS NULL AND image_key IS NOT NULL),"
                                        " count(*) FILTER (WHERE annotated_at IS NULL) FROM figures")).one()
        assert tuple(pending) == (0, 0), "a harvest through the API runs detection and the caption stage"
        assert c.get("/figures", params={"pmcid": "PMC2924383", "total": "true"}).json()["total"] == 4
        # the same request again: everything stored is skipped
        again = c.post("/harvests", json={"pmcid": ["PMC2924383", "PMC3532326"]}, headers={"X-API-Key": token})
        second = wait_for(c, again.json()["url"], token)
        assert (second["status"], second["done"], second["skipped"]) == ("finished", 0, 2)
        c.app.state.jobs.wait(30)  # the row says finished a moment before the job's thread ends
        metrics = c.get("/metrics").text
        assert 'figmine_jobs_running{kind="harvest"} 0.0' in metrics


def test_harvest_options_are_the_clis_detection_and_concepts_off(figmine_env, engine, moto_endpoint, bucket,  # noqa: F811
                                                                 monkeypatch):
    from store import db

    monkeypatch.setenv("FIGMINE_PMC_S3_ENDPOINT", moto_endpoint)
    monkeypatch.setenv("FIGMINE_PMC_BUCKET", bucket)
    db.reset_caches()
    token = new_key(engine)
    with make_client() as c:
        r = c.post("/harvests", json={"pmcid": ["PMC2924383"], "detect": False, "concepts": False},
                   headers={"X-API-Key": token})
        assert r.status_code == 202, r.text
        body = wait_for(c, r.json()["url"], token)
        c.app.state.jobs.wait(30)
        assert (body["status"], body["done"]) == ("finished", 1), body
        assert (body["params"]["detect"], body["params"]["concepts"]) == (False, False)
    with engine.connect() as conn:
        figures = conn.execute(text("SELECT count(*), count(detected_at), count(annotated_at) FROM figures")).one()
    assert tuple(figures) == (4, 0, 0), "detection and the caption stage were turned off"


# -- exports -----------------------------------------------------------------------------------------
def test_export_job_files_and_downloads(figmine_env, engine):
    result = CliRunner().invoke(cli_app, ["ingest", "--no-detect", str(FIXTURES / "packages")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    token = new_key(engine)
    headers = {"X-API-Key": token}
    with make_client() as c:
        assert_problem(c.post("/exports", json={"format": "jsonl", "splits": "0.5/0.7"}, headers=headers), 422)
        assert_problem(c.post("/exports", json={"format": "tarball"}, headers=headers), 422)
        r = c.post("/exports", json={"format": "jsonl", "level": "figure", "seed": 7,
                                     "filters": {"pmcid": ["PMC2924383", "PMC2958805"]}}, headers=headers)
        assert r.status_code == 202, r.text
        export_id = r.json()["id"]
        assert r.json()["status"] in ("queued", "running", "finished")
        body = wait_for(c, f"/exports/{export_id}", token)
        assert body["status"] == "finished", body
        assert body["total"] == 8 and body["progress"] == 1.0 and body["counts"]["records"] == 8
        assert body["params"]["filter"]["pmcid"] == ["PMC2924383", "PMC2958805"]
        names = {f["name"] for f in body["files"]}
        assert "manifest.json" in names and any(n.endswith(".jsonl") for n in names)
        location = Path(figmine_env["home"]) / "exports" / str(export_id)
        for f in body["files"]:
            assert f["url"] == f"/exports/{export_id}/files/{f['name']}"
            if not (location / f["name"]).is_file():
                continue
            got = c.get(f["url"], headers=headers)
            assert got.status_code == 200 and got.content == (location / f["name"]).read_bytes()
        image = next(p for p in (location / "images").rglob("*") if p.is_file())
        rel = image.relative_to(location).as_posix()
        assert c.get(f"/exports/{export_id}/files/{rel}", headers=headers).content == image.read_bytes()
        # nothing outside the export folder
        (location.parent / "secret.txt").write_text("not yours")
        for bad in ["../secret.txt", "..%2Fsecret.txt", "%2E%2E/secret.txt", "images/../../secret.txt",
                    "%2Fetc%2Fpasswd", "images/..%2F..%2Fsecret.txt", "nope.jsonl"]:
            r = c.get(f"/exports/{export_id}/files/{bad}", headers=headers)
            assert r.status_code == 404 and "not yours" not in r.text, (bad, r.status_code)
        assert_problem(c.get(f"/exports/{export_id}/files/manifest.json"), 401)
        assert_problem(c.get("/exports/999999", headers=headers), 404)


def test_signed_download_links(figmine_env, engine):
    """A finished export's files carry links signed for the requesting key: no header needed, but
    bound to that file and export, void when expired, tampered with, or once the key is revoked."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    from api.keys import revoke_key

    result = CliRunner().invoke(cli_app, ["ingest", "--no-detect", str(FIXTURES / "packages")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    token = new_key(engine)
    with make_client() as c:
        r = c.post("/exports", json={"format": "jsonl", "filters": {"pmcid": ["PMC2924383"]}},
                   headers={"X-API-Key": token})
        body = wait_for(c, r.headers["location"], token)
        assert body["status"] == "finished", body
        manifest = next(f for f in body["files"] if f["name"] == "manifest.json")
        data = next(f for f in body["files"] if f["name"].endswith(".jsonl"))
        location = Path(figmine_env["home"]) / "exports" / str(body["id"])
        got = c.get(manifest["download_url"])  # no header
        assert got.status_code == 200 and got.content == (location / "manifest.json").read_bytes()
        assert c.get(data["download_url"]).content == (location / data["name"]).read_bytes()
        parts = urlsplit(manifest["download_url"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert int(query["expires"]) > time.time() + 3000  # the default lifetime is an hour

        def variant(path: str = parts.path, **changes) -> str:
            return f"{path}?{urlencode({**query, **changes})}"

        # the signature binds the file, the expiry and the key
        assert_problem(c.get(variant(path=urlsplit(data["url"]).path)), 403)
        assert_problem(c.get(variant(expires=str(int(query["expires"]) + 1))), 403)
        assert_problem(c.get(variant(signature="0" * 64)), 403)
        assert_problem(c.get(variant(key_id="999999")), 403)
        assert_problem(c.get(variant(expires=str(int(time.time()) - 10))), 403)
        assert_problem(c.get(parts.path), 401)
        # revoking the key voids its links
        revoke_key(token)
        assert_problem(c.get(manifest["download_url"]), 403)


def test_unfinished_export_has_no_downloads(figmine_env, engine):
    from store.exporters import create_export_job
    from store.db import session_factory

    token = new_key(engine)
    export_id = create_export_job(session_factory(), format="jsonl")  # queued, never run
    with make_client() as c:
        body = c.get(f"/exports/{export_id}", headers={"X-API-Key": token}).json()
        assert body["status"] == "queued" and body["files"] == [] and body["progress"] is None
        assert_problem(c.get(f"/exports/{export_id}/files/manifest.json", headers={"X-API-Key": token}), 409)
