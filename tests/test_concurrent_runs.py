"""Two figmine runs at the same time lose nothing and store nothing twice: on a fresh database (the
migrations), on a fresh FIGMINE_HOME (the embedded server), and on the same figures (detection and the
caption stage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from figmine.cli import app
from store.migrate import alembic_config, current_revision
from support.databases import embedded_env, fresh_database, postgres_processes
from support.sql import rows, scalar

FIXTURES = Path(__file__).parent / "fixtures"
# real articles: OA packages with their images (detection has figures to split) and bare JATS files
INPUTS = [*sorted((FIXTURES / "packages").glob("*.tar.gz")), FIXTURES / "nxml" / "PMC6398430.nxml",
          FIXTURES / "nxml" / "pone.0000217.nxml"]
# what one run stores, and what the database is asked after two
CHECKS = {
    "articles": "SELECT count(*) FROM articles",
    "article_keys": "SELECT count(DISTINCT article_key) FROM articles",
    "figures": "SELECT count(*) FROM figures",
    "undetected": "SELECT count(*) FROM figures WHERE image_key IS NOT NULL AND detected_at IS NULL",
    "panels": "SELECT count(*) FROM subfigures",
    "panel_duplicates": "SELECT count(*) FROM (SELECT 1 FROM subfigures GROUP BY figure_id, ordinal "
                        "HAVING count(*) > 1) d",
}


# sessions of this database waiting for a lock
WAITING = ("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
           "WHERE NOT l.granted AND d.datname = current_database()")


def _start_two(args: list[str], env: dict[str, str]) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "figmine", *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]


def _finish(procs: list[subprocess.Popen]) -> list[subprocess.CompletedProcess]:
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()


def _counts(url: str) -> dict[str, int]:
    return {name: scalar(url, sql) for name, sql in CHECKS.items()}


def _assert_stored_once(counts: dict[str, int], single: dict[str, int]) -> None:
    assert counts["articles"] == counts["article_keys"] == single["articles"], (counts, single)
    assert counts["figures"] == single["figures"], (counts, single)
    assert counts["undetected"] == 0, "a figure was left undetected by both runs"
    assert counts["panel_duplicates"] == 0, "a panel was stored twice"
    assert counts["panels"] == single["panels"], (counts, single)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> dict[str, int]:
    """What one `figmine ingest` of INPUTS stores, alone on a fresh database."""
    with fresh_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(tmp_path_factory.mktemp("single"))}
        done = subprocess.run([sys.executable, "-m", "figmine", "ingest", "--no-concepts", *map(str, INPUTS)],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        counts = _counts(url)
    assert counts["articles"] == len(INPUTS) and counts["panels"] > 0, counts
    return counts


def test_two_ingests_on_a_fresh_database_migrate_once_and_store_each_article_once(tmp_path, single_run):
    """Both find a database with no schema (Alembic's empty version table, as after `db downgrade
    base`); the test holds that table locked until both are waiting, so that they really start
    migrating together."""
    with fresh_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(tmp_path / "home")}
        engine = create_engine(url)
        with engine.connect() as gate:
            gate.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                              "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
            gate.commit()
            gate.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            procs = _start_two(["ingest", "--no-concepts", *map(str, INPUTS)], env)
            _wait_until(lambda: scalar(url, WAITING) >= 2 or any(p.poll() is not None for p in procs))
            gate.rollback()  # both are waiting (on the version table, or on the first one's migration lock)
        engine.dispose()
        done = _finish(procs)
        for run in done:
            assert run.returncode == 0, f"a concurrent ingest failed:\n{run.stderr[-3000:]}"
        assert current_revision(url) == _head()
        _assert_stored_once(_counts(url), single_run)


@pytest.mark.embedded
def test_two_ingests_on_a_fresh_home_share_one_embedded_server(tmp_path, single_run):
    home = tmp_path / "home"
    env = embedded_env(home)
    done = _finish(_start_two(["ingest", "--no-concepts", *map(str, INPUTS)], env))
    for run in done:
        assert run.returncode == 0, f"a concurrent ingest on a fresh home failed:\n{run.stderr[-3000:]}"
    # a third process reads the result through the same embedded server (and stops it when done)
    probe = ("import json; from sqlalchemy import create_engine, text; from store.db import database_url; "
             "from store.migrate import current_revision; url = database_url(); e = create_engine(url); "
             "c = e.connect(); checks = json.loads(input()); "
             "print(json.dumps({'revision': current_revision(url), "
             "**{k: c.execute(text(q)).scalar() for k, q in checks.items()}})); c.close(); e.dispose()")
    read = subprocess.run([sys.executable, "-c", probe], input=json.dumps(CHECKS), env=env, capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).parent.parent)
    assert read.returncode == 0, read.stderr[-3000:]
    counts = json.loads(read.stdout.strip().splitlines()[-1])
    assert counts.pop("revision") == _head()
    _assert_stored_once(counts, single_run)
    assert not postgres_processes((home / "pgdata").resolve()), "the embedded server was left running"


# -- the stages, racing on the same figures ------------------------------------------------------------------
class _Together:
    """Wraps a detector or tagger: the first call of each of two threads waits for the other's, so
    that both have picked their work before either stores anything."""

    def __init__(self, inner, method: str):
        self.inner, self.method = inner, method
        self.barrier = threading.Barrier(2, timeout=120)
        self.first = threading.local()

    def __getattr__(self, name):
        call = getattr(self.inner, name)
        if name != self.method:
            return call

        def together(*args, **kwargs):
            if not getattr(self.first, "done", False):
                self.first.done = True
                self.barrier.wait()
            return call(*args, **kwargs)

        return together


def _race(work) -> list:
    results: list = [None, None]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, f"a racing stage failed: {errors!r}"
    return results


def test_two_detectors_on_the_same_figures_store_each_panel_once(figmine_env):
    from figmine.settings import get_settings
    from pipeline.detect_stage import detect_pending
    from store.blobs import open_blob_store
    from store.db import session_factory
    from subfigure_detector.detect import Detector

    url = figmine_env["url"]
    result = CliRunner().invoke(app, ["ingest", "--no-detect", "--no-concepts", *map(str, INPUTS)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with_image = scalar(url, "SELECT count(*) FROM figures WHERE image_key IS NOT NULL")
    assert with_image >= 4
    sessions, blobs = session_factory(), open_blob_store(get_settings().blob_location)
    detector = _Together(Detector(), "detect")

    first, second = _race(lambda: detect_pending(sessions, blobs, detector, batch_size=2))

    assert first.figures + second.figures == with_image, "each figure is detected by exactly one of the two"
    assert first.figures and second.figures, "the two shared the work"
    counts = dict(rows(url, "SELECT figure_id, count(*) FROM subfigures GROUP BY figure_id"))
    assert sum(counts.values()) == first.panels + second.panels
    assert not rows(url, "SELECT figure_id, ordinal FROM subfigures GROUP BY figure_id, ordinal HAVING count(*) > 1")
    n_panels = dict(rows(url, "SELECT id, n_panels FROM figures WHERE n_panels > 0"))
    assert n_panels == counts, "each figure's panel count is the number of its panel rows"


def test_two_caption_stages_on_the_same_figures_annotate_each_once(figmine_env, request, tmp_path_factory):
    from captions.concepts import ConceptTagger
    from captions.nlp import NlpConfig
    from figmine.settings import get_settings
    from pipeline.caption_stage import annotate_pending
    from store.blobs import open_blob_store
    from store.db import session_factory

    try:  # the KB index cache test_caption_stage.py uses (built once per machine)
        kb_dir = Path(request.config.cache.mkdir("figmine-kb"))
    except AttributeError:
        kb_dir = tmp_path_factory.mktemp("figmine-kb")
    url = figmine_env["url"]
    result = CliRunner().invoke(app, ["ingest", "--no-concepts", *map(str, INPUTS[:3])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = scalar(url, "SELECT count(*) FROM figures")
    sessions, blobs = session_factory(), open_blob_store(get_settings().blob_location)
    tagger = _Together(ConceptTagger(NlpConfig(kb_dir=kb_dir)), "tag")

    first, second = _race(lambda: annotate_pending(sessions, blobs, tagger, batch_size=figures))

    assert first.figures + second.figures == figures, \
        "the run that stored second left the figures as the first wrote them"
    assert first.skipped + second.skipped == figures
    assert scalar(url, "SELECT count(*) FROM figures WHERE annotated_at IS NULL") == 0
    mentions = scalar(url, "SELECT count(*) FROM concept_mentions")
    assert mentions == first.mentions + second.mentions > 0, "the mentions stored are one run's"
    assert not rows(url, "SELECT figure_id, field, start, \"end\", coalesce(subcaption_id, 0), coalesce(citance_id, 0) "
                         "FROM concept_mentions GROUP BY 1, 2, 3, 4, 5, 6, concept_id HAVING count(*) > 1")
