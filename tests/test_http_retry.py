"""The shared HTTP client and retry policy, against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from support.http_stub import HttpStub, StubResponse

from figmine import __version__
from figmine.settings import Settings
from harvester.http import (
    USER_AGENT,
    RetryPolicy,
    download,
    get_client,
    make_client,
    request,
    retry_after_seconds,
)
from harvester.ratelimit import TokenBucket

FAST = RetryPolicy(attempts=4, initial_delay=0.02, max_delay=0.1, jitter=0.0)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub() as s:
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(settings=Settings(FIGMINE_HTTP_TIMEOUT="2")) as c:
        yield c


def test_user_agent_names_figmine_and_its_version(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/ping", StubResponse(200, "ok"))
    request(client, "GET", f"{stub.url}/ping", policy=FAST)
    assert USER_AGENT == f"figmine/{__version__}"
    assert stub.requests_to("/ping")[0].headers["User-Agent"] == USER_AGENT


def test_5xx_is_retried_until_success(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/flaky", [StubResponse(503), StubResponse(500), StubResponse(200, "fine")])
    response = request(client, "GET", f"{stub.url}/flaky", policy=FAST)
    assert (response.status_code, response.text) == (200, "fine")
    assert len(stub.requests_to("/flaky")) == 3


def test_429_waits_as_long_as_retry_after_says(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/busy", [StubResponse(429, '{"error":"API rate limit exceeded"}', {"Retry-After": "1"}),
                         StubResponse(200, "now")])
    started = time.monotonic()
    response = request(client, "GET", f"{stub.url}/busy", policy=FAST)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.95, f"Retry-After: 1 was not honoured (retried after {elapsed:.2f}s)"
    arrivals = [r.at for r in stub.requests_to("/busy")]
    assert arrivals[1] - arrivals[0] >= 0.95


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    response = httpx.Response(503, headers={"Retry-After": when})
    assert 27 <= retry_after_seconds(response) <= 31
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Response(503)) is None


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_4xx_are_answers_not_retried(stub: HttpStub, client: httpx.Client, status: int) -> None:
    stub.route("/nope", StubResponse(status, "no"))
    assert request(client, "GET", f"{stub.url}/nope", policy=FAST).status_code == status
    assert len(stub.requests_to("/nope")) == 1


def test_last_5xx_is_returned_when_attempts_run_out(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/down", StubResponse(502, "bad gateway"))
    response = request(client, "GET", f"{stub.url}/down", policy=FAST)
    assert response.status_code == 502
    assert len(stub.requests_to("/down")) == FAST.attempts


def test_timeout_is_retried(stub: HttpStub) -> None:
    stub.route("/slow", [StubResponse(200, "late", delay=1.0), StubResponse(200, "quick")])
    with make_client(settings=Settings(FIGMINE_HTTP_TIMEOUT="0.3")) as fast_client:
        response = request(fast_client, "GET", f"{stub.url}/slow", policy=FAST)
    assert response.text == "quick"
    assert len(stub.requests_to("/slow")) == 2


def test_connection_refused_raises_after_the_last_attempt(client: httpx.Client) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(httpx.ConnectError):
        request(client, "GET", f"http://127.0.0.1:{port}/", policy=FAST)
    assert time.monotonic() - started >= 0.02 + 0.04 + 0.08 - 0.01, "no backoff between attempts"


def test_redirects_are_followed(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/old", StubResponse(301, "", {"Location": "/new"}))
    stub.route("/new", StubResponse(200, "moved here"))
    assert request(client, "GET", f"{stub.url}/old", policy=FAST).text == "moved here"


def test_every_attempt_takes_a_token_from_the_limiter(stub: HttpStub, client: httpx.Client) -> None:
    stub.route("/limited", [StubResponse(500), StubResponse(500), StubResponse(200)])
    limiter = TokenBucket(rate=5)
    started = time.monotonic()
    request(client, "GET", f"{stub.url}/limited", policy=RetryPolicy(attempts=3, initial_delay=0.0, jitter=0.0),
            limiter=limiter)
    assert time.monotonic() - started >= 0.38, "three attempts at 5/s need at least 0.4 s"


def test_download_retries_then_renames_into_place(stub: HttpStub, client: httpx.Client, tmp_path: Path) -> None:
    stub.route("/fig.jpg", [StubResponse(503), StubResponse(200, JPEG, {"Content-Type": "image/jpeg"})])
    dest = tmp_path / "figs" / "fig.jpg"
    got = download(client, f"{stub.url}/fig.jpg", dest, policy=FAST)
    assert got.path == dest and dest.read_bytes() == JPEG
    assert [p.name for p in dest.parent.iterdir()] == ["fig.jpg"], "temp file left behind"


def test_download_rejects_a_body_the_caller_refuses(stub: HttpStub, client: httpx.Client, tmp_path: Path) -> None:
    stub.route("/fig.jpg", StubResponse(200, "<!DOCTYPE html><html>challenge</html>", {"Content-Type": "text/html"}))

    def image_only(response: httpx.Response, head: bytes) -> str | None:
        return None if head.startswith(b"\xff\xd8") else "not a JPEG"

    got = download(client, f"{stub.url}/fig.jpg", tmp_path / "fig.jpg", policy=FAST, accept=image_only)
    assert (got.path, got.rejected) == (None, "not a JPEG")
    assert list(tmp_path.iterdir()) == []
    assert len(stub.requests_to("/fig.jpg")) == 1, "a refused answer is final, not retried"


def test_download_of_a_missing_file_leaves_nothing(stub: HttpStub, client: httpx.Client, tmp_path: Path) -> None:
    got = download(client, f"{stub.url}/absent.jpg", tmp_path / "absent.jpg", policy=FAST)
    assert got.path is None and got.response.status_code == 404
    assert list(tmp_path.iterdir()) == []


def test_shared_client_is_one_per_process() -> None:
    assert get_client() is get_client()
