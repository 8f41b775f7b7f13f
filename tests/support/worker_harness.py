"""Real Celery workers for tests: `figmine worker` subprocesses on the machine's Redis, each test run
under its own broker key prefix, and a mirror of N distinct real articles in a loopback S3 bucket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from support.sql import rows  # noqa: F401 - the workers tests take it from here too

ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_URL = os.environ.get("FIGMINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def clone_articles(n: int, first_pmcid: int = 7_100_000) -> list:
    """n distinct articles: the real OA articles of tests/fixtures/s3_mirror_src (newest versions),
    round robin, under new PMCIDs."""
    from harvester.sources.mirror_builder import load_articles
    from support.s3_mirror import MIRROR_SOURCE

    latest: dict = {}
    for article in load_articles(MIRROR_SOURCE):
        if article.pmcid not in latest or article.version > latest[article.pmcid].version:
            latest[article.pmcid] = article
    templates = sorted(latest.values(), key=lambda a: a.pmcid)
    return [replace(templates[i % len(templates)], pmcid=f"PMC{first_pmcid + i}", version=1) for i in range(n)]


def new_prefix() -> str:
    return f"figmine-test-{uuid.uuid4().hex[:10]}:"


def drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every broker key of a test run."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def worker_env(base: dict, *, database_url: str, home: Path, prefix: str, s3_endpoint: str | None = None,
               bucket: str | None = None, **extra: str) -> dict:
    env = {**base, "DATABASE_URL": database_url, "FIGMINE_HOME": str(home), "FIGMINE_BROKER_URL": REDIS_URL,
           "FIGMINE_BROKER_KEY_PREFIX": prefix, "FIGMINE_USE_EUROPEPMC": "false", "FIGMINE_RETRIES": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))}
    if s3_endpoint:
        env["FIGMINE_PMC_S3_ENDPOINT"] = s3_endpoint
    if bucket:
        env["FIGMINE_PMC_BUCKET"] = bucket
    env.update(extra)
    return env


class Worker:
    """`python -m figmine worker` in its own process group (so SIGKILL takes its pool processes too)."""

    def __init__(self, env: dict, log: Path, *, queues: str = "harvest", concurrency: int = 2, name: str = "w"):
        self.log_path = log
        self._log = open(log, "ab")
        cmd = [sys.executable, "-m", "figmine", "worker", "--queues", queues, "--concurrency", str(concurrency),
               "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "info"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: nothing gets to clean up."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def tail(self, n: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-n:]



def count(url: str, sql: str) -> int:
    found = rows(url, sql)
    return int(found[0][0] or 0) if found else 0


def wait_until(condition: Callable[[], bool], timeout: float, what: str, *, every: float = 0.2,
               alive: Callable[[], str | None] | None = None) -> None:
    """Poll `condition`; fail saying `what` did not happen (and why, if `alive` reports a dead process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and (problem := alive()):
            raise AssertionError(f"{what}: {problem}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
