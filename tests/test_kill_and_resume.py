"""A run killed with SIGKILL half-way and started again completes with no duplicate and no half article;
the killed run is marked interrupted by the next start and its temporary files are removed."""

from __future__ import annotations

import os
import re
import shutil
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


def _row(url: str, sql: str) -> tuple:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(text(sql)).one())
    finally:
        engine.dispose()


def test_sigkill_half_way_then_rerun_completes_without_duplicates(figmine_env, tmp_path):
    url = figmine_env["url"]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    n = 120
    _make_corpus(corpus, n)
    packages = sorted((FIXTURES / "packages").glob("*.tar.gz"))
    for package in packages:  # extracted into the run's work folder when their turn comes (first)
        shutil.copy(package, corpus / f"0_{package.name}")
    n += len(packages)
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
    killed = _count(url, "SELECT id FROM harvest_runs")
    workdir = Path(figmine_env["home"]) / "tmp" / f"run-{killed}"
    assert any(workdir.rglob("*.nxml")), "the killed run left its extracted packages behind"

    # every stored article is whole: its figures and citances are there
    corpus_articles = "SELECT id FROM articles WHERE doi LIKE '10.9999/figmine.%'"
    expected_figures = _count(url, f"SELECT max(c) FROM (SELECT count(*) c FROM figures WHERE article_id IN "
                                   f"({corpus_articles}) GROUP BY article_id) t")
    assert _count(url, f"SELECT count(*) FROM (SELECT a.id FROM articles a LEFT JOIN figures f ON f.article_id=a.id "
                       f"WHERE a.id IN ({corpus_articles}) GROUP BY a.id HAVING count(f.id) <> {expected_figures}) t") == 0

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    status, error = _row(url, f"SELECT status, error FROM harvest_runs WHERE id = {killed}")
    assert status == "interrupted" and "ended without finishing" in error
    assert not workdir.exists(), "the next start removes a killed run's temporary files"
    assert not any((Path(figmine_env["home"]) / "tmp").iterdir()), "a finished run leaves no temporary files"
    assert _count(url, "SELECT count(*) FROM articles") == n
    assert _count(url, "SELECT count(DISTINCT article_key) FROM articles") == n
    assert _count(url, "SELECT count(*) FROM figures WHERE article_id IN (SELECT id FROM articles WHERE "
                       "doi LIKE '10.9999/figmine.%')") == (n - len(packages)) * expected_figures
    assert _count(url, "SELECT count(*) FROM (SELECT article_id, ordinal FROM figures GROUP BY 1, 2 HAVING count(*) > 1) t") == 0
    last_run = _count(url, "SELECT max(id) FROM harvest_runs")
    assert _count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={last_run} AND status='skipped'") >= stored_at_kill
