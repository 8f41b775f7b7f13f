"""Write a small copy of the PMC Cloud Service bucket layout, to a folder or to an S3 endpoint.

The layout is the one of `s3://pmc-oa-opendata` (FORMATS.md §4):

    PMC<id>.<ver>/PMC<id>.<ver>.xml | .txt | .pdf | .json  + media under their original names
    metadata/PMC<id>.<ver>.json                                (same JSON as inside the prefix)
    inventory-reports/pmc-oa-opendata/metadata/<YYYY-MM-DDTHH-MMZ>/manifest.json (+ manifest.checksum)
    inventory-reports/pmc-oa-opendata/metadata/data/<uuid>.csv.gz   rows: bucket, key, last-modified, etag

A folder written this way is one of figmine's inputs (the local mirror source reads it), `make run`
ingests a bundled sample, and the tests upload the same layout to a loopback S3 server.

Input: a folder with one sub-folder per article, each holding the article's files and an
`article.json`:

    {"pmcid": "PMC2924383", "pmid": 20808861, "doi": "...", "title": "...", "citation": "...",
     "license_code": "CC BY", "xml": "pone.0012255.nxml", "pdf": "pone.0012255.pdf",
     "media": ["pone.0012255.g001.jpg", ...],
     "versions": [{"version": 1, "last_modified": "2025-11-03T08:00:00Z"}, {"version": 2, ...}]}

Run `python -m harvester.sources.mirror_builder SOURCE_DIR DEST_DIR` to write a folder mirror.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from harvester.sources.pmc_metadata import normalise_pmcid

DEFAULT_BUCKET = "pmc-oa-opendata"
INVENTORY_PREFIX = "inventory-reports/pmc-oa-opendata/metadata/"
INVENTORY_SCHEMA = "Bucket, Key, LastModifiedDate, ETag"
_PMC_ARTICLE_ID = re.compile(rb'(<article-id pub-id-type="pmc(?:id)?">\s*)(?:PMC)?\d+(\s*</article-id>)')


@dataclass
class MirrorArticle:
    """One article version as it will appear in the bucket."""

    pmcid: str
    version: int
    xml: bytes
    pdf: bytes | None = None
    media: dict[str, bytes] = field(default_factory=dict)  # file name -> content
    pmid: int | None = None
    doi: str | None = None
    mid: str | None = None
    title: str | None = None
    citation: str | None = None
    license_code: str | None = None
    is_manuscript: bool = False
    is_retracted: bool = False
    last_modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    text: bytes | None = None  # plain text; derived from the XML when None
    # Fault injection for test mirrors: md5 to declare instead of the real one, and files that are
    # listed in the metadata but not written.
    md5_overrides: dict[str, str] = field(default_factory=dict)
    omit: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # a copy made under another PMCID (test mirrors) names it in its own front matter, as every
        # article of the bucket does: the article's identity is read from there
        self.xml = _PMC_ARTICLE_ID.sub(lambda m: m.group(1) + self.pmcid[3:].encode() + m.group(2), self.xml)

    @property
    def prefix(self) -> str:
        return f"{self.pmcid}.{self.version}/"

    @property
    def metadata_key(self) -> str:
        return f"metadata/{self.pmcid}.{self.version}.json"


@dataclass
class MirrorSummary:
    bucket: str
    objects: dict[str, str] = field(default_factory=dict)  # key -> md5 of what was written
    articles: list[tuple[str, int]] = field(default_factory=list)
    manifest_key: str | None = None


class _Writer(Protocol):
    def put(self, key: str, body: bytes) -> None: ...


class _FolderWriter:
    def __init__(self, root: Path):
        self.root = root

    def put(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(body)
        tmp.replace(path)


class _S3Writer:
    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket
        self.public_read = True
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)

    def put(self, key: str, body: bytes) -> None:
        # The real bucket is world-readable and figmine reads it unsigned; so must a mirror be.
        if self.public_read:
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ACL="public-read")
                return
            except self.client.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "AccessControlListNotSupported":
                    raise
                self.public_read = False  # ACLs disabled on this bucket: its policy decides
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def plain_text(xml: bytes) -> bytes:
    """A rough .txt rendering of the article (the bucket ships one beside every XML)."""
    try:
        root = etree.fromstring(xml, etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return b""
    if root is None:
        return b""
    words = " ".join(" ".join(root.itertext()).split())
    return words.encode("utf-8")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def load_articles(source_dir: Path) -> list[MirrorArticle]:
    """Read every `<source_dir>/*/article.json` (see the module docstring) into article versions."""
    articles: list[MirrorArticle] = []
    for spec_path in sorted(Path(source_dir).glob("*/article.json")):
        folder = spec_path.parent
        spec = json.loads(spec_path.read_text())
        pmcid = normalise_pmcid(spec["pmcid"])
        xml = (folder / spec["xml"]).read_bytes()
        pdf = (folder / spec["pdf"]).read_bytes() if spec.get("pdf") else None
        media = {name: (folder / name).read_bytes() for name in spec.get("media", [])}
        versions = spec.get("versions") or [{"version": 1}]
        for entry in versions:
            articles.append(
                MirrorArticle(
                    pmcid=pmcid,
                    version=int(entry["version"]),
                    xml=xml,
                    pdf=pdf,
                    media=dict(media),
                    pmid=spec.get("pmid"),
                    doi=spec.get("doi"),
                    mid=spec.get("mid"),
                    title=spec.get("title"),
                    citation=spec.get("citation"),
                    license_code=spec.get("license_code"),
                    is_manuscript=bool(spec.get("is_manuscript", False)),
                    is_retracted=bool(spec.get("is_retracted", False)),
                    last_modified=_parse_time(entry["last_modified"])
                    if entry.get("last_modified")
                    else datetime.now(UTC),
                )
            )
    if not articles:
        raise ValueError(f"no */article.json under {source_dir}")
    return articles


def metadata_json(article: MirrorArticle, bucket: str = DEFAULT_BUCKET) -> dict[str, Any]:
    """The metadata document exactly as the bucket shapes it (key order of the real samples)."""
    stem = f"{article.pmcid}.{article.version}"

    def url(name: str, data: bytes) -> str:
        md5 = article.md5_overrides.get(name, md5_hex(data))
        return f"s3://{bucket}/{article.prefix}{name}?md5={md5}"

    text = article.text if article.text is not None else plain_text(article.xml)
    doc: dict[str, Any] = {
        "pmcid": article.pmcid,
        "version": article.version,
        "pmid": article.pmid,
        "doi": article.doi,
        "mid": article.mid,
        "title": article.title,
        "citation": article.citation,
        "is_pmc_openaccess": True,
        "is_manuscript": article.is_manuscript,
        "is_historical_ocr": False,
        "is_retracted": article.is_retracted,
        "license_code": article.license_code,
    }
    if article.pdf is not None:
        doc["pdf_url"] = url(f"{stem}.pdf", article.pdf)
    doc["xml_url"] = url(f"{stem}.xml", article.xml)
    doc["text_url"] = url(f"{stem}.txt", text)
    if article.media:
        doc["media_urls"] = [url(name, data) for name, data in article.media.items()]
    return doc


def _article_objects(article: MirrorArticle, bucket: str) -> dict[str, bytes]:
    stem = f"{article.pmcid}.{article.version}"
    text = article.text if article.text is not None else plain_text(article.xml)
    files: dict[str, bytes] = {f"{stem}.xml": article.xml, f"{stem}.txt": text}
    if article.pdf is not None:
        files[f"{stem}.pdf"] = article.pdf
    files.update(article.media)
    meta = json.dumps(metadata_json(article, bucket), indent=2).encode()
    objects = {article.prefix + name: data for name, data in files.items() if name not in article.omit}
    objects[article.prefix + f"{stem}.json"] = meta
    objects[article.metadata_key] = meta
    return objects


def inventory_folder(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H-%MZ")


def write_inventory(
    dest: Path | Any,
    articles: Iterable[MirrorArticle],
    *,
    when: datetime,
    bucket: str = DEFAULT_BUCKET,
) -> str:
    """Write one S3 Inventory report (CSV) of the `metadata/` objects; returns the manifest key."""
    return _write_inventory(_writer(dest, bucket), articles, when=when, bucket=bucket)


def _write_inventory(writer: _Writer, articles: Iterable[MirrorArticle], *, when: datetime, bucket: str) -> str:
    rows = io.StringIO()
    out = csv.writer(rows, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for article in articles:
        etag = md5_hex(json.dumps(metadata_json(article, bucket), indent=2).encode())
        modified = article.last_modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out.writerow([bucket, article.metadata_key, modified, etag])
    # mtime=0: identical inputs give byte-identical reports.
    data = gzip.compress(rows.getvalue().encode(), mtime=0)
    folder = inventory_folder(when)
    data_key = f"{INVENTORY_PREFIX}data/{uuid.uuid5(uuid.NAMESPACE_URL, bucket + folder)}.csv.gz"
    writer.put(data_key, data)
    manifest = {
        "sourceBucket": bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(when.timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": INVENTORY_SCHEMA,
        "files": [{"key": data_key, "size": len(data), "MD5checksum": md5_hex(data)}],
    }
    body = json.dumps(manifest, indent=2).encode()
    manifest_key = f"{INVENTORY_PREFIX}{folder}/manifest.json"
    writer.put(manifest_key, body)
    writer.put(f"{INVENTORY_PREFIX}{folder}/manifest.checksum", md5_hex(body).encode())
    return manifest_key


def _writer(dest: Path | str | Any, bucket: str) -> _Writer:
    if isinstance(dest, (str, Path)):
        return _FolderWriter(Path(dest))
    if hasattr(dest, "put_object"):
        return _S3Writer(dest, bucket)
    raise TypeError(f"dest must be a folder path or a boto3 S3 client, not {type(dest).__name__}")


def build_mirror(
    dest: Path | str | Any,
    articles: Sequence[MirrorArticle] | None = None,
    *,
    source_dir: Path | None = None,
    bucket: str = DEFAULT_BUCKET,
    inventory_at: datetime | None = None,
) -> MirrorSummary:
    """Write the articles (or those of `source_dir`) in bucket layout to a folder or a boto3 S3 client.

    One inventory report dated `inventory_at` (default: one hour after the newest article) lists every
    article's `metadata/` object; call `write_inventory` for more (e.g. an older, partial one).
    """
    if articles is None:
        if source_dir is None:
            raise ValueError("give the articles or a source_dir")
        articles = load_articles(source_dir)
    writer = _writer(dest, bucket)
    summary = MirrorSummary(bucket=bucket)
    for article in articles:
        for key, body in _article_objects(article, bucket).items():
            writer.put(key, body)
            summary.objects[key] = md5_hex(body)
        summary.articles.append((article.pmcid, article.version))
    when = inventory_at or max(a.last_modified for a in articles) + timedelta(hours=1)
    summary.manifest_key = _write_inventory(writer, articles, when=when, bucket=bucket)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a PMC bucket-layout mirror from article folders.")
    parser.add_argument("source_dir", type=Path, help="folder of <article>/article.json sub-folders")
    parser.add_argument("dest_dir", type=Path, help="folder to write the mirror into")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    args = parser.parse_args(argv)
    summary = build_mirror(args.dest_dir, source_dir=args.source_dir, bucket=args.bucket)
    print(f"wrote {len(summary.objects)} objects for {len(summary.articles)} article versions to {args.dest_dir}")


if __name__ == "__main__":
    main()
