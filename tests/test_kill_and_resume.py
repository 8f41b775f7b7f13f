"""A run killed with SIGKILL half-way and started again completes with no duplicate and no half article."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).parent / "fixtures"


def _make_corpus(dest: Path, n: int) -> None:
    """n distinct articles: a real JATS file with its PMCID rewritten (pmc-id/doi made unique)."""
    source = next(p for p in sorted((FIXTURES / "nxml").rglob("*.nxml")) if b'pub-id-type="pmc"' in p.read_bytes())
    xml = source.read_text(encoding="utf-8")
    for i in range(n):
        body = re.sub(r'(<article-id pub-id-type="pmc">)[^<]+', rf"\g<1>{9_000_000 + i}", xml, count=1)
        body = re.sub(r'(<article-id pub-id-type="doi">)[^<]+', rf"\g<1>10.9999/figmine.{i}", body, count=1)
        (dest / f"article_{i:03d}.nxml").write_text(body, encoding="utf-8")


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def test_sigkill_half_way_then_rerun_completes_without_duplicates(figmine_env, tmp_path):
    url = figmine_env["url"]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    n = 120
    _make_corpus(corpus, n)
    env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(figmine_env["home"]), "FIGMINE_CONCURRENCY": "2"}
    cmd = [sys.executable, "-m", "figmine", "ingest", str(corpus)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count(url, "SELECT count(*) FROM articles") < 10:
        assert proc.poll() is None, "ingest finished before it could be killed; make the corpus larger"
        assert time.monotonic() < deadline, "ingest stored nothing in 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored_at_kill = _count(url, "SELECT count(*) FROM articles")
    assert 0 < stored_at_kill < n

    # every stored article is whole: its figures and citances are there
    expected_figures = _count(url, "SELECT max(c) FROM (SELECT count(*) c FROM figures GROUP BY article_id) t")
    assert _count(url, f"SELECT count(*) FROM (SELECT a.id FROM articles a LEFT JOIN figures f ON f.article_id=a.id "
                       f"GROUP BY a.id HAVING count(f.id) <> {expected_figures}) t") == 0

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _count(url, "SELECT count(*) FROM articles") == n
    assert _count(url, "SELECT count(DISTINCT article_key) FROM articles") == n
    assert _count(url, "SELECT count(*) FROM figures") == n * expected_figures
    assert _count(url, "SELECT count(*) FROM (SELECT article_id, ordinal FROM figures GROUP BY 1, 2 HAVING count(*) > 1) t") == 0
    last_run = _count(url, "SELECT max(id) FROM harvest_runs")
    assert _count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={last_run} AND status='skipped'") >= stored_at_kill
