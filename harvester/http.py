"""One HTTP client for every web source, and one retry policy.

Why a shared client: connection pooling (NCBI and Europe PMC are few hosts hit many times) and one place
that sets the user agent, timeouts and redirect handling. The ID converter's old URL answers 301, so
redirects are followed everywhere.

Retry policy: timeouts, connection errors, 5xx and 429 are transient and retried with exponential backoff
plus jitter; a `Retry-After` header (seconds or HTTP date) overrides the backoff. Other 4xx are answers,
not failures of transport, and are returned to the caller at once.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from figmine import __version__
from figmine.settings import Settings, get_settings

USER_AGENT = f"figmine/{__version__}"


class Limiter(Protocol):
    """Anything with `acquire()` that blocks until one more request may be sent (see ratelimit.py)."""

    def acquire(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total tries, the first included
    initial_delay: float = 0.5  # seconds before the first retry; doubles each time
    max_delay: float = 30.0  # cap on one backoff sleep
    jitter: float = 0.5  # up to this fraction of the delay is added at random (spreads thundering herds)
    max_retry_after: float = 300.0  # never sleep longer than this for a server's Retry-After

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetryPolicy:
        s = settings or get_settings()
        return cls(attempts=max(1, s.retries))

    def backoff(self, retry_number: int) -> float:
        """Sleep before retry number `retry_number` (1-based), jitter included."""
        base = min(self.max_delay, self.initial_delay * (2 ** (retry_number - 1)))
        return base + random.uniform(0, base * self.jitter)


class RetriableStatus(Exception):
    """Raised inside a retried call for a 5xx/429 answer so that tenacity retries it."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code} from {response.request.url}")
        self.response = response


def is_retriable_status(status: int) -> bool:
    return status == 429 or status >= 500


def is_transient_error(exc: BaseException) -> bool:
    # TransportError covers timeouts, connect/read/write errors and broken protocol exchanges.
    return isinstance(exc, (httpx.TransportError, RetriableStatus))


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """The server's `Retry-After` in seconds, or None when absent or unreadable."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retrying(
    policy: RetryPolicy,
    *,
    is_transient: Callable[[BaseException], bool] = is_transient_error,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity `Retrying` implementing the policy for calls that raise on transient failure.

    The last exception is re-raised when the attempts run out.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_says = retry_after_seconds(exc.response) if isinstance(exc, RetriableStatus) else None
        if server_says is not None:
            return min(server_says, policy.max_retry_after)
        return policy.backoff(state.attempt_number)

    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(is_transient),
        sleep=sleep,
        reraise=True,
    )


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    limiter: Limiter | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request with retries; every attempt first takes a token from `limiter` when given.

    Returns the final response: a success, a non-retriable 4xx, or, when the attempts run out on 5xx/429,
    the last such response. Raises the last `httpx.TransportError` when the attempts run out on those.
    """
    policy = policy or RetryPolicy.from_settings()

    def attempt() -> httpx.Response:
        if limiter is not None:
            limiter.acquire()
        response = client.request(method, url, **kwargs)
        if is_retriable_status(response.status_code):
            raise RetriableStatus(response)
        return response

    try:
        return retrying(policy)(attempt)
    except RetriableStatus as exc:
        return exc.response


@dataclass
class Download:
    response: httpx.Response
    path: Path | None  # set only when the body was saved
    rejected: str | None = None  # why `accept` refused a 2xx body


def download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    policy: RetryPolicy | None = None,
    limiter: Limiter | None = None,
    accept: Callable[[httpx.Response, bytes], str | None] | None = None,
    **kwargs: Any,
) -> Download:
    """Stream `url` into `dest` (temp file in the same folder, then atomic rename), with retries.

    A body cut short mid-stream is retried like any transport error. `accept(response, first_bytes)`
    may return a reason to reject a 2xx answer (e.g. an HTML challenge page where an image was expected);
    a rejection is not retried and `dest` is left untouched.
    """
    policy = policy or RetryPolicy.from_settings()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")

    def attempt() -> Download:
        if limiter is not None:
            limiter.acquire()
        with client.stream("GET", url, **kwargs) as response:
            if is_retriable_status(response.status_code):
                response.read()
                raise RetriableStatus(response)
            if not response.is_success:
                response.read()
                return Download(response, None)
            chunks = response.iter_bytes()
            first = next(chunks, b"")
            reason = accept(response, first[:512]) if accept else None
            if reason:
                return Download(response, None, reason)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(first)
                    for chunk in chunks:
                        fh.write(chunk)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            return Download(response, dest)

    try:
        return retrying(policy)(attempt)
    except RetriableStatus as exc:
        return Download(exc.response, None)


def make_client(
    *,
    settings: Settings | None = None,
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
    max_connections: int | None = None,
) -> httpx.Client:
    """A new client with figmine's user agent, timeouts and redirect policy. Thread-safe to share."""
    s = settings or get_settings()
    total = timeout if timeout is not None else s.http_timeout_s
    pool = max_connections or max(10, s.concurrency * 2)
    return httpx.Client(
        timeout=httpx.Timeout(total, connect=min(total, 10.0)),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=True,
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
    )


_shared: tuple[int, httpx.Client] | None = None
_shared_lock = threading.Lock()


def get_client() -> httpx.Client:
    """The process-wide client. Re-created after a fork: pooled sockets must not be shared across processes."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), make_client())
        return _shared[1]
