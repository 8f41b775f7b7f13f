"""NCBI's request rate limit, shared by everything that talks to NCBI.

NCBI allows 3 requests/second per IP without an API key and 10/second with one; beyond that it answers
429 and may block the address. The limit is for the whole client, so the limiter must be shared:

- `TokenBucket`: in-process and thread-safe; every thread of a worker draws from one bucket.
- `RedisRateLimiter`: when `FIGMINE_RATE_LIMIT_REDIS_URL` is set, all workers on all machines reserve
  send slots from one Redis key (per API key). A Lua script keeps the reservation atomic and uses the
  Redis server's clock, so machines with skewed clocks still space requests correctly.

Both space requests evenly (burst 1 by default) rather than allowing a burst of `rate` at once: with a
larger burst, a busy second followed by a refilled bucket can exceed `rate` inside a one-second window.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from figmine.settings import Settings, get_settings

if TYPE_CHECKING:  # redis is only needed when a Redis URL is configured
    import redis

NCBI_RATE_WITHOUT_KEY = 3.0
NCBI_RATE_WITH_KEY = 10.0


class TokenBucket:
    """Thread-safe token bucket: `rate` tokens per second, at most `burst` saved up."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def _reserve(self) -> float:
        """Take one token (possibly going into debt) and return how long the caller must wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            # Debt makes later callers queue behind this one: waits are handed out in arrival order.
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


# Reserve the next send slot for one client. KEYS[1]: slot key. ARGV[1]: interval in microseconds.
# Returns the wait in microseconds. The key holds the time (µs, server clock) of the next free slot.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
-- '%.0f': Lua 5.1's tostring would print microsecond timestamps in lossy exponent form.
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval),
           'PX', string.format('%.0f', math.ceil((slot + interval - now) / 1000) + 1000))
return slot - now
"""


class RedisRateLimiter:
    """A limiter shared through Redis by every worker using the same API key (or none)."""

    def __init__(
        self,
        client: redis.Redis,
        rate: float,
        *,
        key: str,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.key = key
        self._client = client
        self._sleep = sleep
        self._interval_us = int(round(1_000_000 / rate))
        self._script = client.register_script(_RESERVE_LUA)

    @classmethod
    def from_url(cls, url: str, rate: float, *, api_key: str | None) -> RedisRateLimiter:
        try:
            import redis as redis_lib
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "FIGMINE_RATE_LIMIT_REDIS_URL is set but the 'redis' package is not installed"
            ) from exc
        client = redis_lib.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, rate, key=limiter_key(api_key))

    def acquire(self) -> float:
        wait = int(self._script(keys=[self.key], args=[self._interval_us])) / 1_000_000
        if wait > 0:
            self._sleep(wait)
        return wait


def limiter_key(api_key: str | None) -> str:
    """Redis key per API key; hashed so that the key itself is never stored in Redis."""
    ident = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "anonymous"
    return f"figmine:ratelimit:ncbi:{ident}"


def ncbi_rate(settings: Settings) -> float:
    if settings.ncbi_requests_per_second:
        return settings.ncbi_requests_per_second
    return NCBI_RATE_WITH_KEY if settings.ncbi_api_key else NCBI_RATE_WITHOUT_KEY


_limiters: dict[tuple[str | None, str | None, float], TokenBucket | RedisRateLimiter] = {}
_limiters_lock = threading.Lock()


def get_ncbi_limiter(settings: Settings | None = None) -> TokenBucket | RedisRateLimiter:
    """The shared limiter for NCBI requests: one per (Redis URL, API key, rate) in this process."""
    s = settings or get_settings()
    rate = ncbi_rate(s)
    ident = (s.rate_limit_redis_url, s.ncbi_api_key, rate)
    with _limiters_lock:
        limiter = _limiters.get(ident)
        if limiter is None:
            if s.rate_limit_redis_url:
                limiter = RedisRateLimiter.from_url(s.rate_limit_redis_url, rate, api_key=s.ncbi_api_key)
            else:
                limiter = TokenBucket(rate)
            _limiters[ident] = limiter
        return limiter
