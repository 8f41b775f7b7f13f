"""Remote harvests: discovered article references → work items that fetch from PMC's bucket.

Before downloading anything, the bucket's metadata JSON decides: an article whose version and
checksums are already stored is skipped, and one whose licence the run excludes is skipped. When the
bucket lacks the article or one of its objects, Europe PMC is tried as a second source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from harvester.discovery import ArticleRef
from harvester.licenses import license_allowed
from harvester.records import ArticleBundle, SourceError
from harvester.sources.pmc_metadata import PmcMetadata
from pipeline.runner import SkipItem, WorkItem
from store.models import Article


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
            return self.s3.fetch(ref.pmcid, version, work_dir=work_dir)
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
