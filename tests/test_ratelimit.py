"""NCBI's rate limit: an in-process token bucket and a Redis-shared limiter (real local Redis)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from figmine.settings import Settings
from harvester.ratelimit import (
    RedisRateLimiter,
    TokenBucket,
    get_ncbi_limiter,
    limiter_key,
    ncbi_rate,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


def grant_times(acquire: Callable[[], float], threads: int, each: int) -> list[float]:
    """Acquire from several threads at once; returns the monotonic time of every grant, sorted."""
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        for _ in range(each):
            acquire()
            with lock:
                times.append(time.monotonic())

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(times)


def max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_ncbi_rates_follow_the_api_key() -> None:
    assert ncbi_rate(Settings()) == 3
    assert ncbi_rate(Settings(NCBI_API_KEY="abc")) == 10
    assert ncbi_rate(Settings(NCBI_API_KEY="abc", FIGMINE_NCBI_RATE="25")) == 25


def test_three_per_second_really_takes_a_second_for_four_requests() -> None:
    bucket = TokenBucket(3)
    started = time.monotonic()
    for _ in range(4):
        bucket.acquire()
    assert time.monotonic() - started >= 0.98  # first at once, then 3 × 1/3 s


def test_bucket_spaces_requests_evenly_across_threads() -> None:
    bucket = TokenBucket(40)
    times = grant_times(bucket.acquire, threads=4, each=5)
    assert times[-1] - times[0] >= 19 / 40 - 0.01, "20 grants at 40/s need 19 intervals"
    assert max_in_window(times, 0.25) <= 11, "more than rate × window grants in a quarter second"


def test_burst_is_saved_up_to_its_size_only() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2, burst=3, clock=lambda: now[0], sleep=sleep)
    now[0] = 100.0  # a long idle time refills to `burst`, not beyond
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.5, 0.5])


def test_limiter_is_shared_within_the_process() -> None:
    s = Settings(FIGMINE_NCBI_RATE="7")
    assert get_ncbi_limiter(s) is get_ncbi_limiter(s)
    assert isinstance(get_ncbi_limiter(s), TokenBucket) and get_ncbi_limiter(s).rate == 7


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(0)


# -- Redis -----------------------------------------------------------------------------------------


@pytest.fixture
def redis_client() -> Iterator[object]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def test_key(redis_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    key = f"figmine:test:ratelimit:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(key)


def test_redis_limiter_is_shared_by_separate_workers(test_key: str) -> None:
    import redis

    # Two limiters with their own connections stand for two worker processes.
    workers = [RedisRateLimiter(redis.Redis.from_url(REDIS_URL), 20, key=test_key) for _ in range(2)]
    times: list[float] = []
    lock = threading.Lock()

    def run(limiter: RedisRateLimiter) -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    assert times[-1] - times[0] >= 9 / 20 - 0.02, "10 grants at 20/s shared by two workers need 0.45 s"
    assert max_in_window(times, 0.5) <= 11


def test_redis_limiters_for_different_api_keys_are_independent(redis_client, test_key: str) -> None:  # type: ignore[no-untyped-def]
    import redis

    other = f"{test_key}:other"
    a = RedisRateLimiter(redis.Redis.from_url(REDIS_URL), 10, key=test_key)
    b = RedisRateLimiter(redis.Redis.from_url(REDIS_URL), 10, key=other)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda lim=lim: [lim.acquire() for _ in range(4)]) for lim in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    redis_client.delete(other)
    assert 0.28 <= elapsed < 0.6, f"separate keys should run in parallel (took {elapsed:.2f}s)"


def test_redis_limiter_from_settings_keys_by_hashed_api_key(redis_client) -> None:  # type: ignore[no-untyped-def]
    s = Settings(FIGMINE_RATE_LIMIT_REDIS_URL=REDIS_URL, NCBI_API_KEY="secret-key-123", FIGMINE_NCBI_RATE="50")
    limiter = get_ncbi_limiter(s)
    assert isinstance(limiter, RedisRateLimiter) and limiter.rate == 50
    assert limiter.key == limiter_key("secret-key-123") and "secret-key-123" not in limiter.key
    assert limiter_key(None).endswith(":anonymous")
    limiter.acquire()
    assert redis_client.pttl(limiter.key) > 0, "the slot key must expire on its own"
    redis_client.delete(limiter.key)
