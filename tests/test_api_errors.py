"""Failures become problem documents: unexpected errors (500), slow queries (503), a lost database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

PROBLEM = "application/problem+json"


def make_client(**settings_values) -> TestClient:
    from api.app import create_app
    from figmine.settings import Settings

    return TestClient(create_app(Settings(**settings_values)))


def test_unexpected_error_is_a_500_problem_without_a_traceback(figmine_env, monkeypatch):
    from api import queries

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(queries, "list_figures", broken)
    with make_client() as c:
        r = c.get("/figures", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 500 and body["request_id"] == "req-500" == r.headers["x-request-id"]
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_a_query_over_the_time_limit_is_a_503_problem(figmine_env, monkeypatch):
    from api import queries
    from store import db

    def slow(session, *args, **kwargs):
        session.execute(text("SELECT pg_sleep(2)"))

    db.reset_caches()  # a fresh engine, so the new time limit applies to its connections
    monkeypatch.setattr(queries, "list_figures", slow)
    with make_client(FIGMINE_API_STATEMENT_TIMEOUT_MS=100) as c:
        r = c.get("/figures")
    assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["title"] == "Query timed out" and r.headers["retry-after"]


def test_readyz_reports_an_unreachable_database(figmine_env, monkeypatch):
    from store import db

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    db.reset_caches()
    with make_client() as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
        r = c.get("/figures")
        assert r.status_code == 503 and r.json()["title"] == "Database unavailable"


@pytest.mark.parametrize("path", ["/figures?limit=abc", "/figures/-1", "/concepts?prefix=", "/articles?year_to=10000"])
def test_validation_errors_list_the_fields(figmine_env, path):
    with make_client() as c:
        r = c.get(path)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["title"] == "Invalid request" and body["errors"] and body["errors"][0]["loc"][0] in ("query", "path")
