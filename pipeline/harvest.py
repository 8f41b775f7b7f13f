"""Remote harvests, and their one front door.

`Harvest` is what `figmine harvest` and `POST /harvests` both run, with the same options
(`HarvestOptions`): discover (ids, an E-utilities query, the bucket's changes since a date) → fetch,
parse and store on a local process pool, or on the Celery workers when a broker is configured → the
later stages (detection, the caption stage), unless turned off.

Before downloading anything, the bucket's metadata JSON decides (it is read once per article): an
article whose version and checksums are already stored is skipped, and one whose licence the run
excludes is skipped. When the bucket lacks the article, Europe PMC is tried as a second source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from figmine.fields import ShortStr
from harvester.discovery import ArticleRef, classify_id
from harvester.licenses import license_allowed
from harvester.records import ArticleBundle, SourceError
from harvester.sources.pmc_metadata import PmcMetadata
from pipeline.later_stages import Progress, run_later_stages
from pipeline.runner import HarvestRunner, RunSummary, SkipItem, WorkItem, describe_error
from store.models import Article, HarvestRun


class HarvestOptions(BaseModel):
    """The options of a harvest: the flags of `figmine harvest` and the body of `POST /harvests`."""

    model_config = ConfigDict(extra="forbid")

    pmcid: list[ShortStr] = Field(default_factory=list, max_length=10_000)
    pmid: list[ShortStr] = Field(default_factory=list, max_length=10_000)
    doi: list[ShortStr] = Field(default_factory=list, max_length=10_000)
    query: ShortStr | None = Field(default=None, description="E-utilities search on PMC (open access only)")
    since: date | None = Field(default=None, description="Articles changed since this date (bucket inventory)")
    limit: int | None = Field(default=None, ge=1, le=10_000_000)
    license: Literal["any", "commercial", "noncommercial"] = "any"
    concurrency: int | None = Field(default=None, ge=1, le=64)
    detect: bool = Field(default=True, description="Split the new figures into panels")
    concepts: bool = Field(default=True, description="Tag concepts, panel modalities and panel citances")


class HarvestPlanError(ValueError):
    """The options ask for nothing, or name something that is no identifier."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title


@dataclass
class HarvestPlan:
    ids: list[str]
    params: dict
    total: int | None  # known up front only for a list of ids


def plan_harvest(options: HarvestOptions, *, via: str) -> HarvestPlan:
    """Check the options (`HarvestPlanError` says what is wrong) and the run's recorded parameters."""
    ids: list[str] = []
    bad: list[str] = []
    for value in [*options.pmcid, *options.pmid, *options.doi]:
        for part in value.replace(",", " ").split():
            try:
                classify_id(part)
                ids.append(part)
            except ValueError:
                bad.append(part)
    if bad:
        raise HarvestPlanError("Invalid identifiers", f"not a PMCID, PMID or DOI: {', '.join(bad[:10])}")
    if not ids and not options.query and not options.since:
        raise HarvestPlanError("Nothing to harvest", "give pmcid/pmid/doi, query or since")
    since = options.since.isoformat() if options.since else None
    params = {"command": "harvest", "via": via, "ids": ids, "query": options.query, "since": since,
              "limit": options.limit, "license": options.license, "detect": options.detect,
              "concepts": options.concepts}
    total = min(len(ids), options.limit or len(ids)) if ids and not options.query and not options.since else None
    return HarvestPlan(ids, params, total)


class Harvest:
    """One harvest from its options to stored, detected and annotated articles.

    Creating it checks the options and records the run (so a caller can answer with its id at
    once); `run()` carries it out, here or on the Celery workers."""

    def __init__(self, options: HarvestOptions, *, settings, sessions: sessionmaker[Session], via: str = "cli"):
        self.options, self.settings, self.sessions = options, settings, sessions
        self.plan = plan_harvest(options, via=via)
        self.distributed = bool(settings.broker_url)
        self.runner = HarvestRunner.from_settings(settings, sessions, license_filter=options.license,
                                                  concurrency=options.concurrency)
        self.run_id = self.runner.start_run(self.plan.params, local=not self.distributed)

    def run(self, *, wait: bool = True, on_progress: Callable[[RunSummary, int | None], None] | None = None,
            on_dispatched: Callable[[int], None] | None = None, progress: Progress | None = None) -> RunSummary | None:
        """Discover and harvest; then the later stages here, or on the workers. With a broker and
        `wait=False`, returns None once everything is sent (the workers finish the run)."""
        from harvester.discovery import discover
        from workers.progress import later_stages

        options = self.options
        try:
            fetcher = RemoteFetcher(self.sessions, license_filter=options.license,
                                    use_europepmc=self.settings.use_europepmc)
            refs = discover(ids=self.plan.ids or None, query=options.query, since=options.since,
                            limit=options.limit, source=fetcher.s3)
            if self.distributed:
                from workers.celery_app import dispatch_harvest

                sent = dispatch_harvest(self.run_id, refs, license_filter=options.license,
                                        follow=later_stages(options.detect, options.concepts))
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (store.embedded_pg.Terminated)
            fail_run(self.sessions, self.run_id, "interrupted while sending the articles", status="interrupted")
            raise
        except Exception as exc:
            fail_run(self.sessions, self.run_id, describe_error(exc))
            raise
        if self.distributed:
            if on_dispatched:
                on_dispatched(sent)
            if not wait:
                return None
            from workers.progress import wait_for_run

            return wait_for_run(self.sessions, self.run_id, on_progress=on_progress)
        from workers.local_pool import harvest_on_pool

        # the runner marks the run finished, or failed with the reason (discovery errors included)
        summary = harvest_on_pool(self.runner, refs, self.plan.params, license_filter=options.license,
                                  total=self.plan.total, on_progress=on_progress, run_id=self.run_id)
        from store.blobs import open_blob_store

        run_later_stages(self.sessions, open_blob_store(self.settings.blob_location), detect=options.detect,
                         concepts=options.concepts, progress=progress)
        return summary


def fail_run(sessions: sessionmaker[Session], run_id: int, error: str, *, status: str = "failed") -> None:
    """A run that could not be carried out (discovery or the broker failed, or it was stopped): why."""
    with sessions.begin() as session:
        session.execute(
            update(HarvestRun).where(HarvestRun.id == run_id, HarvestRun.status == "running")
            .values(status=status, error=error[:4000], finished_at=datetime.now(timezone.utc))
        )


def already_stored(session: Session, meta: PmcMetadata) -> bool:
    """Same version and the same md5 for every object the metadata lists."""
    row = session.execute(
        select(Article.version, Article.file_hashes).where(Article.article_key == meta.pmcid)
    ).one_or_none()
    if row is None or row.version is None:
        return False
    if row.version > meta.version:
        return True
    if row.version < meta.version:
        return False
    objects = [o for o in [meta.xml, meta.pdf, *meta.media] if o is not None and o.md5]
    return bool(objects) and all(row.file_hashes.get(o.name) == o.md5 for o in objects)


class RemoteFetcher:
    """Fetch one article reference: PMC bucket first, Europe PMC when the bucket fails it."""

    def __init__(self, sessions: sessionmaker[Session], *, license_filter: str = "any",
                 use_europepmc: bool = True, s3=None, europepmc=None):
        from harvester.sources.s3_bucket import S3BucketSource

        self.sessions = sessions
        self.license_filter = license_filter
        self.s3 = s3 or S3BucketSource()
        self.use_europepmc = use_europepmc
        self._europepmc = europepmc

    @property
    def europepmc(self):
        if self._europepmc is None:
            from harvester.sources.europepmc import EuropePmcSource

            self._europepmc = EuropePmcSource()
        return self._europepmc

    def fetch(self, ref: ArticleRef, work_dir: Path) -> ArticleBundle:
        try:
            version = ref.version or self.s3.latest_version(ref.pmcid)
            if version is None:
                raise SourceError(f"{ref.pmcid}: not in the PMC bucket", pmcid=ref.pmcid)
            meta = self.s3.read_metadata(ref.pmcid, version)
            self._check_skip(meta)
            return self.s3.fetch(ref.pmcid, version, work_dir=work_dir, meta=meta)
        except SourceError as s3_error:
            if not self.use_europepmc:
                raise
            try:
                bundle = self.europepmc.fetch(ref.pmcid, work_dir=work_dir)
            except SourceError as epmc_error:
                raise SourceError(f"PMC bucket: {s3_error}; Europe PMC: {epmc_error}", pmcid=ref.pmcid,
                                  retriable=s3_error.retriable or epmc_error.retriable) from epmc_error
            bundle.warnings.append(f"fetched from Europe PMC because the PMC bucket failed: {s3_error}")
            return bundle

    def _check_skip(self, meta: PmcMetadata) -> None:
        if meta.license_code and not license_allowed(meta.license_code, self.license_filter):
            raise SkipItem(f"licence {meta.license_code} excluded")
        with self.sessions() as session:
            if already_stored(session, meta):
                raise SkipItem(f"{meta.pmcid}.{meta.version} already stored with the same checksums")


def work_items(refs: Iterable[ArticleRef], fetcher: RemoteFetcher) -> Iterator[WorkItem]:
    for ref in refs:
        yield WorkItem(name=str(ref), fetch=lambda work_dir, ref=ref: fetcher.fetch(ref, work_dir))
