"""The PMC Cloud Service bucket (`s3://pmc-oa-opendata`, anonymous) as a source of `ArticleBundle`s.

Layout and metadata: FORMATS.md §4 and `pmc_metadata.py`. One article version lives under
`PMC<id>.<ver>/`; the highest version is found with ListObjectsV2(Prefix="PMC<id>.", Delimiter="/").
The trailing dot keeps PMC123 from matching PMC1234's prefixes; the returned prefixes are still checked.

Every object is streamed to a temp file in the work dir, checked against the md5 in its metadata URL and
renamed into place. A mismatch is retried once (a truncated transfer looks like one) before it becomes a
`SourceError`. botocore retries 5xx, throttling and connection errors (standard mode); transfers broken
mid-body are retried here.

Incremental harvests read the bucket's S3 Inventory of `metadata/` (newest report) and fall back to
listing `metadata/` when no report exists.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from figmine.settings import Settings, get_settings
from harvester.http import USER_AGENT, RetryPolicy, retrying
from harvester.jats.encoding import sniff_jats
from harvester.records import ArticleBundle, SourceError
from harvester.sources.pmc_metadata import (
    VERSIONED_PREFIX_RE,
    PmcMetadata,
    S3Object,
    normalise_pmcid,
    parse_metadata,
)

log = logging.getLogger(__name__)

INVENTORY_PREFIX = "inventory-reports/pmc-oa-opendata/metadata/"
_INVENTORY_FOLDER_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)/$")
_METADATA_KEY_RE = re.compile(r"^metadata/(PMC\d+)\.(\d+)\.json$")
_VERSIONED_ID_RE = re.compile(r"^(?i:pmc)?(\d+)\.(\d+)$")
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
_SKIP_SUFFIXES = (".txt",)  # plain-text renderings: the XML is the source of truth


class MissingObjectError(SourceError):
    """An object the metadata lists is not in the bucket (404)."""


class InventoryError(Exception):
    """The bucket's inventory report could not be read."""


def _is_transfer_error(exc: BaseException) -> bool:
    # Errors while streaming a body, after botocore's own retries have handed the response over. A
    # checksum botocore verified itself (objects uploaded with CRC checksums) failing is a damaged transfer.
    return isinstance(exc, (BotoConnectionError, HTTPClientError, IncompleteReadError, ResponseStreamingError,
                            FlexibleChecksumError))


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _looks_like_jats(path: Path) -> str | None:
    """Why the file is not article XML, or None. Cheap sniff only: malformed-but-recoverable XML is the
    parser's business (it repairs it or records the loss), a PDF or an HTML error page saved as .xml is ours;
    UTF-16 is read (harvester.jats.encoding.sniff_jats)."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    return sniff_jats(head).reason  # UTF-16 too


class S3BucketSource:
    """Fetch article versions from the PMC bucket. Thread-safe: share one instance between workers."""

    name = "s3"

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        settings: Settings | None = None,
        bucket: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
        download_workers: int | None = None,
        md5_attempts: int = 2,
        transfer_policy: RetryPolicy | None = None,
    ):
        s = settings or get_settings()
        self.work_dir = Path(work_dir) if work_dir is not None else s.home / "work"
        self.bucket = bucket or s.pmc_bucket
        self.download_workers = max(1, download_workers or s.download_workers)
        self.md5_attempts = max(1, md5_attempts)
        self.transfer_policy = transfer_policy or RetryPolicy(attempts=max(1, min(s.retries, 3)))
        endpoint = endpoint_url or s.pmc_s3_endpoint
        if client is None:
            config = Config(
                signature_version=UNSIGNED,
                region_name=s.pmc_s3_region,
                retries={"mode": "standard", "max_attempts": max(1, s.retries)},
                connect_timeout=min(10.0, s.http_timeout_s),
                read_timeout=s.http_timeout_s,
                max_pool_connections=max(10, s.concurrency * self.download_workers),
                user_agent_extra=USER_AGENT,
                # Mirrors and test servers are addressed by host:port, so the bucket goes in the path.
                s3={"addressing_style": "path"} if endpoint else None,
            )
            # A boto3 client is thread-safe, a Session is not: build the client once, here.
            client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
        self.client = client

    # -- versions and metadata ---------------------------------------------------------------------

    def list_versions(self, pmcid: str) -> list[int]:
        """Versions of the article present in the bucket, ascending."""
        pmcid = normalise_pmcid(pmcid)
        versions: list[int] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{pmcid}.", Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    m = VERSIONED_PREFIX_RE.match(common["Prefix"])
                    if m and m.group(1) == pmcid:
                        versions.append(int(m.group(2)))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, pmcid, "listing its versions") from exc
        return sorted(set(versions))

    def latest_version(self, pmcid: str) -> int | None:
        versions = self.list_versions(pmcid)
        return versions[-1] if versions else None

    def read_metadata(self, pmcid: str, version: int) -> PmcMetadata:
        """The version's metadata JSON: inside its prefix, else under `metadata/`."""
        pmcid = normalise_pmcid(pmcid)
        stem = f"{pmcid}.{version}"
        raw: bytes | None = None
        for key in (f"{stem}/{stem}.json", f"metadata/{stem}.json"):
            try:
                raw = self._get_bytes(key)
                break
            except ClientError as exc:
                if not self._is_missing(exc):
                    raise self._error(exc, pmcid, key) from exc
            except BotoCoreError as exc:
                raise self._error(exc, pmcid, key) from exc
        if raw is None:
            raise SourceError(f"{stem}: no metadata JSON in s3://{self.bucket} (tried {stem}/{stem}.json "
                              f"and metadata/{stem}.json)", pmcid=pmcid)
        try:
            meta = parse_metadata(raw)
        except ValueError as exc:
            raise SourceError(f"{stem}: unusable metadata JSON: {exc}", pmcid=pmcid) from exc
        if meta.pmcid != pmcid or meta.version != version:
            raise SourceError(f"{stem}: metadata JSON describes {meta.pmcid}.{meta.version}", pmcid=pmcid)
        return meta

    # -- fetching ----------------------------------------------------------------------------------

    def fetch(self, pmcid: str, version: int | None = None, *, work_dir: Path | None = None,
              meta: PmcMetadata | None = None) -> ArticleBundle:
        """Download one article version (default: the highest) into `<work_dir>/PMC<id>.<ver>/`.

        `work_dir` defaults to the one given at construction (the pipeline passes a per-item folder);
        `meta`, the version's metadata when the caller has read it already (it is not read again).

        Raises SourceError naming the file on a missing object, a checksum mismatch that a second
        download did not cure, or an XML object that is not article XML. Nothing is left behind then.
        """
        text = str(pmcid).strip()
        m = _VERSIONED_ID_RE.match(text)
        if m and version is None:
            version = int(m.group(2))
        pmcid = normalise_pmcid(text)
        if version is None:
            version = self.latest_version(pmcid)
            if version is None:
                raise SourceError(f"{pmcid}: not in s3://{self.bucket} (no {pmcid}.<version>/ prefix)",
                                  pmcid=pmcid)
        if meta is None or (meta.pmcid, meta.version) != (pmcid, version):
            meta = self.read_metadata(pmcid, version)
        stem = f"{pmcid}.{version}"
        if meta.xml is None:
            raise SourceError(f"{stem}: metadata lists no xml_url", pmcid=pmcid)

        wanted: list[S3Object] = [meta.xml]
        if meta.pdf is not None:
            wanted.append(meta.pdf)
        wanted += [o for o in meta.media if not o.name.lower().endswith(_SKIP_SUFFIXES)]
        wanted = list({o.key: o for o in wanted}.values())  # a file listed twice is fetched once
        for obj in wanted:
            if obj.name in ("", ".", "..") or "\\" in obj.name:
                # Names become paths in the work dir; a mirror's metadata is not trusted with that.
                raise SourceError(f"{stem}: metadata lists an unusable file name {obj.key!r}", pmcid=pmcid)

        article_dir = Path(work_dir or self.work_dir) / stem
        article_dir.mkdir(parents=True, exist_ok=True)
        warnings: list[str] = []
        if not meta.is_openaccess:
            warnings.append(f"{stem}: metadata says is_pmc_openaccess=false")
        paths: dict[str, Path] = {}

        missing: dict[str, str] = {}

        def job(obj: S3Object) -> Path | None:
            try:
                return self._download(obj, article_dir / obj.name, stem)
            except SourceError as exc:
                # only the XML is the article: without a media file (404, a wrong md5 twice) it is
                # stored without that image, as partial; the PDF is a convenience copy
                if obj is meta.xml or not (isinstance(exc, MissingObjectError) or exc.md5_mismatch):
                    raise
                warnings.append(str(exc))
                if obj is not meta.pdf:
                    missing[obj.name] = str(exc)
                return None

        try:
            with ThreadPoolExecutor(max_workers=min(self.download_workers, len(wanted)),
                                    thread_name_prefix=f"s3-{stem}") as pool:
                futures = {pool.submit(job, o): o for o in wanted}
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()  # leaving the block waits for those already running
            errors = [exc for f in done if (exc := f.exception()) is not None]
            if errors:
                raise errors[0]
            for future, obj in futures.items():
                path = future.result()
                if path is not None:
                    paths[obj.name] = path
            reason = _looks_like_jats(paths[meta.xml.name])
            if reason:
                raise SourceError(f"{stem}: {meta.xml.name} is not article XML: {reason}", pmcid=pmcid)
        except BaseException:
            shutil.rmtree(article_dir, ignore_errors=True)
            raise

        pdf_path = paths.get(meta.pdf.name) if meta.pdf is not None else None
        bundle_args: dict[str, Any] = dict(
            source="s3",
            xml_path=paths[meta.xml.name],
            pmcid=pmcid,
            version=version,
            files={o.name: paths[o.name] for o in meta.media if o.name in paths},
            missing=missing,
            pdf_path=pdf_path,
            pmid=meta.pmid,
            doi=meta.doi,
            title=meta.title,
            license_code=meta.license_code,
            retracted=meta.is_retracted,
            checksums={o.name: o.md5 for o in wanted if o.md5 and o.name in paths},
            origin=f"s3://{self.bucket}/{stem}/",
            warnings=warnings,
        )
        if "is_manuscript" in {f.name for f in dataclasses.fields(ArticleBundle)}:
            bundle_args["is_manuscript"] = meta.is_manuscript
        return ArticleBundle(**bundle_args)

    def _download(self, obj: S3Object, dest: Path, stem: str) -> Path:
        """Stream one object to `dest`, verifying its md5; a mismatch is downloaded once more."""
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            got = ""
            for attempt in range(1, self.md5_attempts + 1):
                got = self._get_to_file(obj.key, tmp, stem)
                if obj.md5 is None or got == obj.md5:
                    os.replace(tmp, dest)
                    return dest
                log.warning("%s: md5 mismatch for %s (attempt %d/%d): expected %s, got %s",
                            stem, obj.name, attempt, self.md5_attempts, obj.md5, got)
            error = SourceError(
                f"{stem}: md5 mismatch for {obj.name}: metadata says {obj.md5}, downloaded object hashes to "
                f"{got} ({self.md5_attempts} downloads)", pmcid=stem.split(".")[0], retriable=True)
            error.md5_mismatch = True
            raise error
        finally:
            tmp.unlink(missing_ok=True)

    def _get_to_file(self, key: str, path: Path, stem: str) -> str:
        def once() -> str:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            digest = hashlib.md5()
            with closing(response["Body"]) as body, open(path, "wb") as fh:
                for chunk in body.iter_chunks(1 << 20):
                    digest.update(chunk)
                    fh.write(chunk)
            return digest.hexdigest()

        try:
            return retrying(self.transfer_policy, is_transient=_is_transfer_error)(once)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, stem.split(".")[0], key.rsplit("/", 1)[-1], stem=stem) from exc

    def _get_bytes(self, key: str) -> bytes:
        def once() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            with closing(response["Body"]) as body:
                return body.read()

        return retrying(self.transfer_policy, is_transient=_is_transfer_error)(once)

    @staticmethod
    def _is_missing(exc: ClientError) -> bool:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return err.get("Code") in ("NoSuchKey", "404", "NotFound") or status == 404

    def _error(self, exc: BaseException, pmcid: str, what: str, *, stem: str | None = None) -> SourceError:
        label = stem or pmcid
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if self._is_missing(exc):
                return MissingObjectError(f"{label}: {what} is missing from s3://{self.bucket} (404)",
                                          pmcid=pmcid)
            retriable = (status or 0) >= 500 or err.get("Code") in _THROTTLE_CODES
            return SourceError(f"{label}: {what}: S3 answered {status} {err.get('Code')}: {err.get('Message')}",
                               pmcid=pmcid, retriable=retriable)
        return SourceError(f"{label}: {what}: {type(exc).__name__}: {exc}", pmcid=pmcid, retriable=True)

    # -- incremental harvests ----------------------------------------------------------------------

    def latest_inventory_manifest(self) -> str | None:
        """Key of the newest inventory `manifest.json`, or None when the bucket has no inventory."""
        folders: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=INVENTORY_PREFIX, Delimiter="/"
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                if _INVENTORY_FOLDER_RE.search(common["Prefix"]):
                    folders.append(common["Prefix"])
        # Folder names are UTC timestamps of fixed width, so text order is time order.
        for folder in sorted(folders, reverse=True):
            key = f"{folder}manifest.json"
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
                return key
            except ClientError as exc:
                if not self._is_missing(exc):
                    raise
                log.warning("inventory folder %s has no manifest.json (report still being written?)", folder)
        return None

    def iter_updated_since(self, since: date | datetime) -> Iterator[tuple[str, int]]:
        """(pmcid, version) of every metadata object last modified at or after `since` (UTC)."""
        cutoff = _as_utc(since)
        manifest_key = self.latest_inventory_manifest()
        if manifest_key is None:
            log.info("no inventory under s3://%s/%s; listing metadata/ instead", self.bucket, INVENTORY_PREFIX)
            yield from self._list_metadata_since(cutoff)
            return
        yield from self._inventory_since(manifest_key, cutoff)

    def _inventory_since(self, manifest_key: str, cutoff: datetime) -> Iterator[tuple[str, int]]:
        try:
            manifest = json.loads(self._get_bytes(manifest_key))
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise InventoryError(f"cannot read {manifest_key}: {exc}") from exc
        if str(manifest.get("fileFormat", "")).upper() != "CSV":
            raise InventoryError(f"{manifest_key}: fileFormat {manifest.get('fileFormat')!r}, only CSV is read")
        schema = [c.strip() for c in str(manifest.get("fileSchema", "")).split(",")]
        try:
            key_col, modified_col = schema.index("Key"), schema.index("LastModifiedDate")
        except ValueError as exc:
            raise InventoryError(f"{manifest_key}: fileSchema {schema} lacks Key or LastModifiedDate") from exc

        scratch = self.work_dir / ".inventory"
        scratch.mkdir(parents=True, exist_ok=True)
        for entry in manifest.get("files", []):
            data_key = entry["key"]
            local = scratch / f"{hashlib.sha1(data_key.encode()).hexdigest()}.csv.gz"
            try:
                got = self._get_to_file(data_key, local, "inventory")
                expected = (entry.get("MD5checksum") or "").lower()
                if expected and got != expected:
                    raise InventoryError(f"{data_key}: md5 {got} differs from the manifest's {expected}")
                with gzip.open(local, "rt", encoding="utf-8", newline="") as fh:
                    for row in csv.reader(fh):
                        if len(row) <= max(key_col, modified_col):
                            continue
                        m = _METADATA_KEY_RE.match(unquote_plus(row[key_col]))
                        if not m:
                            continue
                        modified = datetime.fromisoformat(row[modified_col].replace("Z", "+00:00"))
                        if modified >= cutoff:
                            yield m.group(1), int(m.group(2))
            except SourceError as exc:
                raise InventoryError(f"cannot read inventory file {data_key}: {exc}") from exc
            finally:
                local.unlink(missing_ok=True)

    def _list_metadata_since(self, cutoff: datetime) -> Iterator[tuple[str, int]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="metadata/")
        for page in pages:
            for obj in page.get("Contents", []):
                m = _METADATA_KEY_RE.match(obj["Key"])
                if m and obj["LastModified"] >= cutoff:
                    yield m.group(1), int(m.group(2))

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close:
            close()
