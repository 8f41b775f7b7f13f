"""The Celery distributor: the stage tasks on workers anywhere, through a Redis broker.

    figmine worker --queues harvest,captions      # CPU machines
    figmine worker --queues detect --concurrency 4 # a GPU machine (the processes share the GPU)
    celery -A workers.celery_app worker -Q harvest # the same, with Celery's own command line

Queues: `harvest` (fetch + parse + images + store of a group of articles: one task, because the
files it downloads are only on the machine that fetched them), `detect` (the panels of those
articles' figures: a group's figures fill the detector's batches) and `captions` (concepts, panel
modalities and citances, which read the panels). Each task hands its articles on to the next stage:
harvest → detect → captions.

Delivery is at least once: tasks are acknowledged after they ran (`acks_late`), a worker process
that dies gives its task back (`reject_on_worker_lost`), a whole worker that dies gives its tasks
back after the broker's visibility timeout, and each worker takes one task at a time
(`prefetch 1`), so a long task never holds others hostage. The tasks are idempotent (see
`workers.stages`), so a second delivery duplicates nothing. Errors of the database or the broker
are retried with exponential backoff; an article's own errors are recorded in `harvest_items`.

A message can still be lost (Redis hands it out before the worker records it as unacknowledged; a
Redis restarted without its data loses all). Every item is therefore written to PostgreSQL as
`queued` before its message is sent, and each worker sweeps: a run that has not moved for a
visibility timeout gets its still-queued items sent again.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery, signals
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.exc import DBAPIError

from figmine.settings import Settings, get_settings
from workers import stages

log = logging.getLogger(__name__)

QUEUES = ("harvest", "detect", "captions")
HARVEST, DETECT, CAPTIONS = "figmine.harvest", "figmine.detect", "figmine.captions"
TRANSIENT = (DBAPIError, KombuOperationalError, ConnectionError)
RETRY = dict(autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=300, retry_jitter=True)


def transport_options(settings: Settings) -> dict:
    timeout = settings.broker_visibility_timeout_s
    # Tasks of a dead worker come back `timeout` s after it took them; the sweep that hands them out
    # again runs every few seconds (kombu's default, 10 s × every 10th call, would add ~100 s).
    options: dict = {"visibility_timeout": timeout, "unacked_restore_interval": max(1, min(10, timeout // 5)),
                     "unacked_restore_throttle": 1}
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def configure(app: Celery, settings: Settings) -> Celery:
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        task_ignore_result=not settings.result_backend,  # outcomes live in PostgreSQL
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="harvest",
        task_routes={HARVEST: {"queue": "harvest"}, DETECT: {"queue": "detect"}, CAPTIONS: {"queue": "captions"}},
        task_default_retry_delay=5,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


app = configure(Celery("figmine"), get_settings())


@signals.worker_process_init.connect
def _fresh_process(**_) -> None:
    stages.after_fork()


@signals.worker_ready.connect
def _start_sweeper(**_) -> None:
    threading.Thread(target=_sweep_forever, name="figmine-sweeper", daemon=True).start()


def _sweep_forever() -> None:
    """Send again the queued items of runs that stopped moving (see the module docstring)."""
    after_s = get_settings().broker_visibility_timeout_s
    progress: dict[int, tuple[int, float]] = {}
    while True:
        time.sleep(max(1.0, after_s / 4))
        try:
            resend_stalled(progress, after_s)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            log.exception("sweeping stalled runs failed")


def resend_stalled(progress: dict[int, tuple[int, float]], after_s: float) -> int:
    """One sweep; returns the number of items sent again."""
    from workers.local_pool import batched

    sent = 0
    for run_id, params, refs in stages.stalled_items(progress, after_s, time.monotonic()):
        log.warning("harvest run %s has not moved for %.0f s: sending %d queued items again", run_id, after_s,
                    len(refs))
        for group in batched(refs, get_settings().harvest_group_size):
            harvest.apply_async((run_id, group, params.get("license") or "any", params.get("follow") or []))
            sent += len(group)
    return sent


@app.task(bind=True, name=HARVEST, max_retries=get_settings().retries, **RETRY)
def harvest(self, run_id: int, refs: list, license_filter: str = "any", follow: list[str] | tuple = ()) -> dict:
    """Fetch, parse and store a group of articles (refs carry their queued rows' ids, so a second
    delivery skips what the first recorded); then hand them on to detect / captions."""
    try:
        outcomes = stages.harvest_group(run_id, refs, license_filter)
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:  # the last try: the run must still end
            try:
                stages.fail_group(run_id, refs, license_filter, f"gave up after {self.request.retries} retries: "
                                                                 f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - the database may be what is failing
                log.exception("run %s: could not record the failed group", run_id)
        raise
    hand_on(stages.stored_article_ids(outcomes), follow)
    stages.finish_if_complete(run_id)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


@app.task(bind=True, name=DETECT, max_retries=get_settings().retries, **RETRY)
def detect(self, article_ids: list[int], follow: list[str] | tuple = ()) -> dict:
    """Panels of the not yet detected figures of these articles."""
    summary = stages.detect_articles(article_ids)
    hand_on(article_ids, follow)
    return summary


@app.task(bind=True, name=CAPTIONS, max_retries=get_settings().retries, **RETRY)
def captions(self, article_ids: list[int], follow: list[str] | tuple = ()) -> dict:
    """Concepts, panel modalities and panel citances of these articles' figures."""
    summary = stages.annotate_articles(article_ids)
    hand_on(article_ids, follow)
    return summary


def hand_on(article_ids: list[int], follow: list[str] | tuple) -> None:
    """Send the articles to the first stage of `follow`, with the rest of it (sent again if this task
    is: the stages only do what is pending)."""
    if not article_ids or not follow:
        return
    task = {"detect": detect, "captions": captions}[follow[0]]
    task.apply_async((article_ids, list(follow[1:])))


def dispatch_harvest(run_id: int, refs, *, license_filter: str = "any", follow: list[str] | tuple = (),
                     group_size: int | None = None) -> int:
    """Send a run's references to the `harvest` queue in groups as discovery yields them; then seal
    the run with its total. Returns the number of references sent."""
    from workers.local_pool import batched

    # the broker of the settings now (the module's app was configured when first imported)
    settings = get_settings()
    if not settings.broker_url:
        raise RuntimeError("FIGMINE_BROKER_URL is not set")
    size = max(1, group_size or settings.harvest_group_size)
    total = groups = 0
    with app.connection_for_write(settings.broker_url, transport_options=transport_options(settings)) as conn:
        for group in batched(refs, size):
            queued = stages.queue_group(run_id, stages.refs_to_json(group))  # PostgreSQL first: never lost
            harvest.apply_async((run_id, queued, license_filter, list(follow)), connection=conn)
            total += len(group)
            groups += 1
    stages.seal_run(run_id, total, groups, license_filter=license_filter, follow=follow)
    return total


def start_worker(queues: list[str], *, concurrency: int | None = None, loglevel: str = "INFO",
                 hostname: str | None = None) -> None:
    """Run a worker in this process (what `figmine worker` calls); returns when it stops."""
    settings = get_settings()
    if not settings.broker_url:
        raise RuntimeError("FIGMINE_BROKER_URL is not set: a worker needs a broker (e.g. redis://redis:6379/0)")
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}: use {', '.join(QUEUES)}")
    argv = ["worker", f"--queues={','.join(queues)}", f"--loglevel={loglevel}", "--without-gossip",
            "--without-mingle"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
