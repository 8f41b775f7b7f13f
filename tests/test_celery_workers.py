"""Harvests on real Celery workers (`figmine worker` subprocesses) through the machine's Redis, from a
loopback S3 mirror of real OA articles into PostgreSQL: the CLI dispatches and follows the run, the
workers store, detect and annotate; a worker killed with SIGKILL half-way and a fresh one finish the run with
nothing lost and nothing twice."""

from __future__ import annotations


import pytest
from support.s3_mirror import mirror_bucket, moto_endpoint  # noqa: F401  (moto_endpoint: a fixture)
from support.worker_harness import (Worker, clone_articles, count, drop_prefix, new_prefix, rows, wait_until,
                                    worker_env)
from typer.testing import CliRunner

from figmine.cli import app
from pipeline.runner import EXIT_CODES

N_CLONES = 60
FIRST_CLONE = 7_100_000


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:  # noqa: F811
    return mirror_bucket(moto_endpoint, broken_pmcid="PMC9100001", extra=clone_articles(N_CLONES, FIRST_CLONE))


@pytest.fixture
def celery_env(figmine_env, moto_endpoint, bucket, monkeypatch, tmp_path):  # noqa: F811
    """This process and the workers it starts: the test database, the mirror, a broker key prefix of
    their own on the machine's Redis."""
    from store import db

    prefix = new_prefix()
    env = worker_env(figmine_env["env"], database_url=figmine_env["url"], home=figmine_env["home"], prefix=prefix,
                     s3_endpoint=moto_endpoint, bucket=bucket, FIGMINE_BROKER_VISIBILITY_TIMEOUT="15")
    for key in ("FIGMINE_BROKER_URL", "FIGMINE_BROKER_KEY_PREFIX", "FIGMINE_PMC_S3_ENDPOINT", "FIGMINE_PMC_BUCKET",
                "FIGMINE_RETRIES", "FIGMINE_BROKER_VISIBILITY_TIMEOUT"):
        monkeypatch.setenv(key, env[key])
    db.reset_caches()
    workers: list[Worker] = []

    def start(queues: str = "harvest", concurrency: int = 2) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(workers)}.log", queues=queues, concurrency=concurrency,
                        name=f"w{len(workers)}")
        workers.append(worker)
        return worker

    yield {**figmine_env, "env": env, "start": start, "workers": workers}
    for worker in workers:
        worker.stop()
    drop_prefix(prefix)
    db.reset_caches()


def _dead(worker: Worker):
    return lambda: None if worker.alive() else f"the worker exited ({worker.proc.returncode}):\n{worker.tail()}"


def test_cli_harvest_runs_on_a_worker_which_stores_and_detects(celery_env):
    url = celery_env["url"]
    worker = celery_env["start"]("harvest,detect,captions")
    result = CliRunner().invoke(app, ["harvest", "--pmcid", "PMC2924383", "PMC3532326", "PMC2958805", "PMC9100001"],
                                catch_exceptions=False)
    assert result.exit_code == EXIT_CODES["partial"], result.output + worker.tail()
    assert "4 articles sent to the workers" in result.output

    assert count(url, "SELECT count(*) FROM articles") == 4
    assert count(url, "SELECT count(*) FROM articles WHERE pmcid='PMC2924383' AND version=2") == 1
    assert count(url, "SELECT count(*) FROM harvest_items WHERE item='PMC9100001' AND status='partial' "
                      "AND reason LIKE '%md5%'") == 1, "a figure with a wrong md5 costs its image, not the article"
    run = "(SELECT max(id) FROM harvest_runs)"
    assert count(url, f"SELECT count(*) FROM harvest_runs WHERE id={run} AND status='finished' AND total=4 "
                      "AND done=4 AND partial=1 AND failed=0 AND skipped=0") == 1, \
        "the workers finished the run with its counts"

    # the harvest tasks handed their articles to the detect queue
    wait_until(lambda: count(url, "SELECT count(*) FROM figures WHERE image_key IS NOT NULL "
                                  "AND detected_at IS NULL") == 0, 240, "every figure detected", every=1,
               alive=_dead(worker))
    assert count(url, "SELECT count(*) FROM subfigures") > 0
    # and the detect tasks handed them to the captions queue (which reads the panels)
    wait_until(lambda: count(url, "SELECT count(*) FROM figures WHERE annotated_at IS NULL "
                                  "OR annotated_at < detected_at") == 0, 240, "every figure annotated", every=1,
               alive=_dead(worker))
    assert count(url, "SELECT count(*) FROM concept_mentions") > 0
    assert count(url, "SELECT count(*) FROM figures WHERE annotation_error IS NOT NULL") == 0

    # again: the workers skip what is stored before downloading it
    again = CliRunner().invoke(app, ["harvest", "--pmcid", "PMC2924383", "PMC3532326"], catch_exceptions=False)
    assert again.exit_code == 0, again.output + worker.tail()
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run} AND status='skipped' "
                      "AND reason LIKE '%already stored%'") == 2
    assert count(url, "SELECT count(*) FROM articles") == 4


def test_sigkill_half_way_then_a_fresh_worker_finishes_with_no_loss_and_no_duplicates(celery_env):
    from harvester.discovery import ArticleRef
    from pipeline.runner import HarvestRunner
    from store.db import session_factory
    from workers.celery_app import dispatch_harvest
    from workers.progress import wait_for_run

    from figmine.settings import get_settings

    url = celery_env["url"]
    clones = "pmcid LIKE 'PMC71%' AND length(pmcid) = 10"
    first = celery_env["start"]("harvest", concurrency=2)
    runner = HarvestRunner.from_settings(get_settings(), session_factory())
    run_id = runner.start_run({"command": "harvest", "via": "test"}, local=False)  # the workers carry it out
    refs = [ArticleRef(f"PMC{FIRST_CLONE + i}") for i in range(N_CLONES)]
    assert dispatch_harvest(run_id, refs, group_size=2) == N_CLONES

    wait_until(lambda: count(url, f"SELECT count(*) FROM articles WHERE {clones}") >= 10, 120,
               "the first worker stored 10 articles", every=0.05, alive=_dead(first))
    first.kill()
    at_kill = count(url, f"SELECT count(*) FROM articles WHERE {clones}")
    assert at_kill < N_CLONES, "the worker finished before it could be killed; dispatch more articles"
    # whatever it stored is whole: every clone of one template has that template's figures
    per_template = (f"SELECT count(DISTINCT n) FROM (SELECT (substr(a.pmcid, 4)::int - {FIRST_CLONE}) % 3 AS t, "
                    "count(f.id) AS n FROM articles a LEFT JOIN figures f ON f.article_id = a.id "
                    f"WHERE a.{clones} GROUP BY a.id) x GROUP BY t")
    assert all(n == 1 for n in [r[0] for r in rows(url, per_template)]), "an article was stored half"
    # the killed worker held tasks it never acknowledged: the broker still has them as unacked
    held = _unacked(celery_env["env"]["FIGMINE_BROKER_KEY_PREFIX"])
    assert held >= 1, "the killed worker held no task: nothing was half-way"

    second = celery_env["start"]("harvest", concurrency=2)
    summary = wait_for_run(session_factory(), run_id, timeout_s=240)
    assert second.alive(), second.tail()

    assert count(url, f"SELECT count(*) FROM articles WHERE {clones}") == N_CLONES, "articles lost"
    assert count(url, "SELECT count(*) FROM articles") == count(url, "SELECT count(DISTINCT article_key) FROM articles")
    assert all(n == 1 for n in [r[0] for r in rows(url, per_template)]), "an article has missing or extra figures"
    assert count(url, "SELECT count(*) FROM (SELECT article_id, ordinal FROM figures GROUP BY 1, 2 "
                      "HAVING count(*) > 1) t") == 0, "a figure stored twice"
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id}") == N_CLONES, \
        "one item record per article, whichever delivery stored it"
    assert count(url, f"SELECT count(DISTINCT item) FROM harvest_items WHERE run_id={run_id}") == N_CLONES
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id} AND status='queued'") == 0
    assert count(url, f"SELECT count(*) FROM harvest_runs WHERE id={run_id} AND status='finished' "
                      f"AND total={N_CLONES} AND done={N_CLONES} AND skipped=0 AND failed=0") == 1
    assert (summary.ok + summary.partial, summary.failed) == (N_CLONES, 0)
    wait_until(lambda: _unacked(celery_env["env"]["FIGMINE_BROKER_KEY_PREFIX"]) == 0, 30,
               "the fresh worker acknowledged the redelivered tasks")


def _unacked(prefix: str) -> int:
    """Messages delivered to some worker and not acknowledged yet (kombu's Redis `unacked` hash)."""
    import redis
    from support.worker_harness import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.hlen(f"{prefix}unacked"))
    finally:
        client.close()


def test_a_task_delivered_again_records_each_item_once(celery_env):
    """What a redelivered harvest task does, in process: the items the first delivery recorded are
    read from their rows, the rest done; counters and rows still agree."""
    from workers import stages

    url = celery_env["url"]
    stages.after_fork()  # this test's database
    from pipeline.runner import HarvestRunner
    from store.db import session_factory

    from figmine.settings import get_settings

    run_id = HarvestRunner.from_settings(get_settings(), session_factory()).start_run({"command": "test"})
    refs = stages.queue_group(run_id, [[f"PMC{FIRST_CLONE + i}", None] for i in range(4)])
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id} AND status='queued'") == 4
    first = stages.harvest_group(run_id, refs[:2])
    again = stages.harvest_group(run_id, refs)
    assert [o.status for o in first] == ["ok", "ok"]
    assert [o.status for o in again] == ["ok", "ok", "ok", "ok"], "recorded outcomes are reported, not redone"
    assert stages.stored_article_ids(again) == sorted(stages.stored_article_ids(first) +
                                                      stages.stored_article_ids(again[2:]))
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id}") == 4
    assert count(url, "SELECT count(*) FROM articles") == 4
    assert count(url, f"SELECT done FROM harvest_runs WHERE id={run_id}") == 4
    assert stages.seal_run(run_id, total=4, groups=2), "sealed with every item counted: finished"
    assert count(url, f"SELECT count(*) FROM harvest_runs WHERE id={run_id} AND status='finished'") == 1


def test_a_group_given_up_is_recorded_as_failed_and_the_run_still_ends(celery_env):
    """When a harvest task's retries are spent (database or broker down), its items that no delivery
    recorded become failed items with the reason, and the run ends."""
    from pipeline.runner import HarvestRunner
    from store.db import session_factory
    from workers import stages

    from figmine.settings import get_settings

    url = celery_env["url"]
    stages.after_fork()
    run_id = HarvestRunner.from_settings(get_settings(), session_factory()).start_run({"command": "test"})
    refs = stages.queue_group(run_id, [[f"PMC{FIRST_CLONE + i}", None] for i in range(3)])
    stages.harvest_group(run_id, refs[:1])
    assert not stages.seal_run(run_id, total=3, groups=1)
    stages.fail_group(run_id, refs, "any", "gave up after 5 retries: OperationalError: connection refused")
    recorded = {r[0]: r[1] for r in rows(url, f"SELECT item, status FROM harvest_items WHERE run_id={run_id}")}
    assert recorded == {f"PMC{FIRST_CLONE}": "ok", f"PMC{FIRST_CLONE + 1}": "failed", f"PMC{FIRST_CLONE + 2}": "failed"}
    assert count(url, f"SELECT count(*) FROM harvest_runs WHERE id={run_id} AND status='finished' "
                      "AND done=1 AND failed=2") == 1


def test_a_message_the_broker_lost_is_sent_again_from_postgresql(celery_env):
    """Redis can lose a message (popped by a worker killed before it recorded it, or Redis restarted
    without its data). The items were queued in PostgreSQL before the message was sent: the workers'
    sweeper sends them again once the run stops moving, and the run completes."""
    import redis
    from harvester.discovery import ArticleRef
    from pipeline.runner import HarvestRunner
    from store.db import session_factory
    from support.worker_harness import REDIS_URL
    from workers.celery_app import dispatch_harvest
    from workers.progress import wait_for_run

    from figmine.settings import get_settings

    url = celery_env["url"]
    prefix = celery_env["env"]["FIGMINE_BROKER_KEY_PREFIX"]
    run_id = HarvestRunner.from_settings(get_settings(), session_factory()).start_run({"command": "test"})
    refs = [ArticleRef(f"PMC{FIRST_CLONE + i}") for i in range(6)]
    dispatch_harvest(run_id, refs, group_size=2)  # no worker yet: three messages wait in Redis
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.llen(f"{prefix}harvest") == 3
        assert client.rpop(f"{prefix}harvest") is not None  # lost
    finally:
        client.close()

    worker = celery_env["start"]("harvest", concurrency=1)
    summary = wait_for_run(session_factory(), run_id, timeout_s=150)
    assert worker.alive(), worker.tail()
    assert "sending 2 queued items again" in worker.tail(20000)
    assert (summary.ok + summary.partial, summary.failed) == (6, 0)
    assert count(url, "SELECT count(*) FROM articles WHERE pmcid LIKE 'PMC71%'") == 6
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id}") == 6
    assert count(url, f"SELECT count(*) FROM harvest_items WHERE run_id={run_id} AND status='queued'") == 0


def test_worker_command_refuses_to_start_without_a_broker_or_with_an_unknown_queue(figmine_env, monkeypatch):
    from store import db

    monkeypatch.delenv("FIGMINE_BROKER_URL", raising=False)
    db.reset_caches()
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "FIGMINE_BROKER_URL is not set" in result.output
    monkeypatch.setenv("FIGMINE_BROKER_URL", "redis://127.0.0.1:6379/0")
    db.reset_caches()
    result = CliRunner().invoke(app, ["worker", "--queues", "harvest,gpu"])
    assert result.exit_code == 2 and "unknown queue(s) gpu" in result.output
