"""The pipeline's stages as task functions of plain, JSON-able data.

Each function is one unit of work that both distributors run unchanged: the local process pool
(`workers.local_pool`) and Celery workers (`workers.celery_app`). They read their settings,
database and blob store from the environment of the process they run in, and write every outcome
to PostgreSQL, so a task can run on any machine and run again without harm:

- `harvest_group`: fetch → parse → images → store for a group of article references (one
  transaction per article, skip-before-download of what is stored). With the ids of the items'
  `queued` rows (`queue_group`, written before a task is sent), an item delivered again is skipped.
- `detect_articles`: split the not yet detected figures of these articles into panels.
- `annotate_articles`: concepts, panel modalities and panel citances of these articles' figures
  (`pipeline.caption_stage`; after detection, whose panels it reads).
- `seal_run` / `finish_if_complete`: a distributed run is finished when discovery has ended
  (sealed, with its total) and no item of it is still queued.
- `stalled_items`: the queued items of a run that has not moved for a while, to be sent again: a
  broker can lose a message (Redis pops it before the worker records it as unacknowledged, and a
  worker killed in between loses it), PostgreSQL still knows the item.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import exists, func, insert, select, update

from pipeline.runner import QUEUED, ItemOutcome

log = logging.getLogger(__name__)

# (PMCID, version or None for the newest[, id of its queued harvest_items row]): an ArticleRef as JSON
Ref = list


def refs_to_json(refs) -> list[list]:
    return [[ref.pmcid, ref.version] for ref in refs]


def ref_from_item(name: str) -> list:
    """The reference an item row was named after ("PMC123" or "PMC123.2")."""
    pmcid, _, version = name.partition(".")
    return [pmcid, int(version) if version.isdigit() else None]


# -- per-process tools (built once per worker process) -------------------------------------------
@lru_cache(maxsize=8)
def _harvest_tools(license_filter: str, threads: int | None):
    from figmine.settings import get_settings
    from pipeline.harvest import RemoteFetcher
    from pipeline.runner import HarvestRunner
    from store.db import session_factory

    settings = get_settings()
    sessions = session_factory()
    runner = HarvestRunner.from_settings(settings, sessions, license_filter=license_filter, concurrency=threads,
                                         live_counts=True)
    fetcher = RemoteFetcher(sessions, license_filter=license_filter, use_europepmc=settings.use_europepmc)
    return runner, fetcher


@lru_cache(maxsize=1)
def _detector():
    from subfigure_detector.detect import Detector

    return Detector()


def after_fork() -> None:
    """In a freshly forked worker process: drop the parent's connections and cached tools."""
    from store import db

    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose(close=False)  # the parent's sockets stay the parent's
    db.session_factory.cache_clear()
    db.get_engine.cache_clear()
    _harvest_tools.cache_clear()


# -- stages -------------------------------------------------------------------------------------
def _work_items(refs: list[Ref], fetcher) -> list:
    from harvester.discovery import ArticleRef
    from pipeline.harvest import work_items

    items = work_items((ArticleRef(ref[0], ref[1]) for ref in refs), fetcher)
    return [dataclasses.replace(item, record_id=ref[2] if len(ref) > 2 else None) for item, ref in zip(items, refs)]


def harvest_group(run_id: int, refs: list[Ref], license_filter: str = "any", *,
                  threads: int | None = None, workdir: str | None = None) -> list[ItemOutcome]:
    """Fetch, parse and store a group of articles for run `run_id`; one outcome per article. `workdir`:
    the run's folder for temporary files, on the machine of a local run (else the system's)."""
    runner, fetcher = _harvest_tools(license_filter, threads)
    runner.workdir = Path(workdir) if workdir else None
    return runner.process_group(run_id, _work_items(refs, fetcher))


def queue_group(run_id: int, refs: list[Ref]) -> list[Ref]:
    """Write the group's items as `queued` rows (before the task is sent); the refs with their row ids."""
    from store.db import session_factory
    from store.models import HarvestItem

    if not refs:
        return []
    with session_factory().begin() as session:
        ids = session.execute(
            insert(HarvestItem).returning(HarvestItem.id, sort_by_parameter_order=True),
            [dict(run_id=run_id, item=f"{ref[0]}.{ref[1]}" if ref[1] else ref[0], status=QUEUED) for ref in refs],
        ).scalars().all()
    return [[ref[0], ref[1], row_id] for ref, row_id in zip(refs, ids)]


def fail_group(run_id: int, refs: list[Ref], license_filter: str, reason: str) -> None:
    """A harvest task that gave up (its retries spent): its unrecorded items are recorded as failed,
    so the run still ends and says why."""
    runner, fetcher = _harvest_tools(license_filter, None)
    for item in _work_items(refs, fetcher):
        runner.record_failure(run_id, item, reason)
    finish_if_complete(run_id)


def stored_article_ids(outcomes: list[ItemOutcome]) -> list[int]:
    """Articles a harvest group touched (stored now or before): the later stages' input."""
    return sorted({i for o in outcomes for i in o.article_ids})


def detect_articles(article_ids: list[int], *, batch_size: int | None = None) -> dict:
    from figmine.settings import get_settings
    from pipeline.detect_stage import detect_pending
    from store.blobs import open_blob_store
    from store.db import session_factory

    settings = get_settings()
    summary = detect_pending(session_factory(), open_blob_store(settings.blob_location), _detector(),
                             batch_size=batch_size or settings.detect_batch_size, article_ids=article_ids)
    return dataclasses.asdict(summary)


def annotate_articles(article_ids: list[int]) -> dict:
    from figmine.settings import get_settings
    from pipeline.caption_stage import annotate_pending
    from store.blobs import open_blob_store
    from store.db import session_factory

    summary = annotate_pending(session_factory(), open_blob_store(get_settings().blob_location),
                               article_ids=article_ids)
    return dataclasses.asdict(summary)


# -- run bookkeeping ----------------------------------------------------------------------------
def seal_run(run_id: int, total: int, groups: int, *, license_filter: str = "any",
             follow: list[str] | tuple = ()) -> bool:
    """Discovery has ended: `total` items in `groups` tasks (and what a task sent again needs to know).
    True if the run is finished already."""
    from store.db import session_factory
    from store.models import HarvestRun

    sealed = {"groups": groups, "license": license_filter, "follow": list(follow)}
    with session_factory().begin() as session:
        session.execute(
            update(HarvestRun).where(HarvestRun.id == run_id)
            .values(total=total, params=HarvestRun.params.op("||")(_jsonb(sealed)))
        )
    return finish_if_complete(run_id)


def finish_if_complete(run_id: int) -> bool:
    """Mark the run finished once it is sealed and none of its items is queued (one atomic UPDATE:
    whichever of the last task and the sealing dispatcher commits second sees both)."""
    from store.db import session_factory
    from store.models import HarvestItem, HarvestRun

    queued = exists().where(HarvestItem.run_id == HarvestRun.id, HarvestItem.status == QUEUED)
    with session_factory().begin() as session:
        result = session.execute(
            update(HarvestRun)
            .where(HarvestRun.id == run_id, HarvestRun.status == "running", HarvestRun.params.has_key("groups"),
                   ~queued)
            .values(status="finished", finished_at=datetime.now(timezone.utc))
        )
        return result.rowcount > 0


def stalled_items(progress: dict[int, tuple[int, float]], after_s: float,
                  now: float) -> list[tuple[int, dict, list[Ref]]]:
    """Queued items to send again: of sealed running runs whose counters have not moved for `after_s`
    seconds (as seen by this caller: `progress` is its memory, run id → (counted, since)), the items
    queued (or last sent) more than `after_s` ago. Each is taken with an UPDATE of its timestamp, so
    of several callers only one sends it. Returns (run id, run params, refs with row ids) per run."""
    from store.db import session_factory
    from store.models import HarvestItem, HarvestRun

    out: list[tuple[int, dict, list[Ref]]] = []
    with session_factory().begin() as session:
        runs = session.execute(
            select(HarvestRun.id, HarvestRun.params, HarvestRun.done + HarvestRun.skipped + HarvestRun.failed)
            .where(HarvestRun.status == "running", HarvestRun.params.has_key("groups"))
        ).all()
        for run_id in set(progress) - {r[0] for r in runs}:
            del progress[run_id]
        for run_id, params, counted in runs:
            last = progress.get(run_id)
            if last is None or last[0] != counted:
                progress[run_id] = (counted, now)
                continue
            if now - last[1] < after_s:
                continue
            taken = session.execute(
                update(HarvestItem)
                .where(HarvestItem.run_id == run_id, HarvestItem.status == QUEUED,
                       HarvestItem.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, after_s))
                .values(created_at=func.now())
                .returning(HarvestItem.id, HarvestItem.item)
            ).all()
            if taken:
                out.append((run_id, params, [[*ref_from_item(name), row_id] for row_id, name in taken]))
    return out


def fail_run(run_id: int, error: str) -> None:
    from pipeline.harvest import fail_run as fail
    from store.db import session_factory

    fail(session_factory(), run_id, error)


def _jsonb(value: dict):
    from sqlalchemy import cast, literal
    from sqlalchemy.dialects.postgresql import JSONB

    return cast(literal(value, JSONB), JSONB)
