"""Content-addressed blob store for figure images, PDFs and extracted crops.

Key = `sha256[:2]/sha256[2:4]/<sha256>.<ext>`: the same bytes always get the same key, so storing is
idempotent and duplicates across articles cost nothing. Two back-ends behind one protocol: a local
folder (atomic writes: temp file in the target folder, then `os.replace`; a full disk is a `DiskFull`
naming the blob) and S3 (skip the upload when `head_object` finds the key).
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import urlsplit

from figmine.disk_full import writing

_CHUNK = 1 << 20
_KEY_RE = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})(?:\.([a-z0-9]{1,16}))?$")
_EXT_RE = re.compile(r"^[a-z0-9]{1,16}$")


class BlobError(Exception):
    """A blob could not be stored or read (bad key, missing blob, back-end failure)."""


def normalise_ext(ext: str | None) -> str:
    """'.JPG' → 'jpg'; '' / None → '' (key without extension). Refuses anything but [a-z0-9]."""
    value = (ext or "").strip().lower().lstrip(".")
    if value == "jpeg":
        value = "jpg"
    if value and not _EXT_RE.match(value):
        raise BlobError(f"unusable blob extension {ext!r}: letters and digits only, at most 16")
    return value


def blob_key(sha256_hex: str, ext: str | None = None) -> str:
    digest = sha256_hex.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BlobError(f"not a sha256 hex digest: {sha256_hex!r}")
    suffix = normalise_ext(ext)
    return f"{digest[:2]}/{digest[2:4]}/{digest}" + (f".{suffix}" if suffix else "")


def check_key(key: str) -> str:
    """Refuse keys this store could not have produced (also keeps '..' out of local paths)."""
    m = _KEY_RE.match(key)
    if not m or m.group(1) != m.group(3)[:2] or m.group(2) != m.group(3)[2:4]:
        raise BlobError(f"not a blob key: {key!r} (expected aa/bb/<sha256>.<ext>)")
    return key


def _sha256_of_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _suffix(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


@runtime_checkable
class BlobStore(Protocol):
    def put_file(self, path: Path | str, ext: str | None = None) -> str: ...

    def put_bytes(self, data: bytes, ext: str | None = None) -> str: ...

    def put_derived(self, key: str, data: bytes) -> None: ...

    def open(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def url(self, key: str) -> str: ...


class LocalBlobStore:
    """Blobs under a folder; `path(key)` gives the file for readers that want a path."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def url(self, key: str) -> str:
        return self.path(key).as_uri()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open(self, key: str) -> bytes:
        target = self.path(key)
        try:
            return target.read_bytes()
        except FileNotFoundError as exc:
            raise BlobError(f"blob not found: {key} (in {self.root})") from exc

    def _write_atomically(self, key: str, source: BinaryIO, expected_sha: str) -> None:
        target = self.path(key)
        with writing(target):  # a full disk: DiskFull naming the blob, not a bare ENOSPC
            target.parent.mkdir(parents=True, exist_ok=True)
            # Same folder as the target: os.replace is atomic there, readers never see half a file,
            # and two writers of the same content both end with the same complete file.
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            try:
                h = hashlib.sha256()
                with os.fdopen(fd, "wb") as out:
                    for chunk in iter(lambda: source.read(_CHUNK), b""):
                        h.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if h.hexdigest() != expected_sha:
                    raise BlobError(f"content changed while storing {key}: sha256 is now {h.hexdigest()}")
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise

    def put_bytes(self, data: bytes, ext: str | None = None) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = blob_key(digest, ext)
        if not self.exists(key):
            self._write_atomically(key, io.BytesIO(data), digest)
        return key

    def put_file(self, path: Path | str, ext: str | None = None) -> str:
        source = Path(path)
        try:
            digest = _sha256_of_file(source)
        except OSError as exc:
            raise BlobError(f"cannot read {source}: {exc}") from exc
        key = blob_key(digest, ext if ext is not None else _suffix(source))
        if not self.exists(key):
            with source.open("rb") as fh:
                self._write_atomically(key, fh, digest)
        return key

    def put_derived(self, key: str, data: bytes) -> None:
        """Store bytes under a key derived from what they were made of (a thumbnail: its figure's
        sha256 and size), not from their own sha256: found again without a lookup table."""
        self._write_atomically(check_key(key), io.BytesIO(data), hashlib.sha256(data).hexdigest())


class S3BlobStore:
    """Blobs in `s3://bucket/prefix/<key>`; the endpoint may point at MinIO, Ceph or moto."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        client=None,  # a boto3 S3 client; built from the default credential chain when None
        region_name: str | None = None,
    ):
        if not bucket:
            raise BlobError("S3 blob store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region_name)
        self.client = client

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
            return True
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("404", "NoSuchKey", "NotFound") or status == 404:
                return False
            raise BlobError(f"cannot check {self.url(key)}: {exc}") from exc

    def open(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
            return response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise BlobError(f"blob not found: {self.url(key)}") from exc
            raise BlobError(f"cannot read {self.url(key)}: {exc}") from exc

    @staticmethod
    def _content_type(key: str) -> str:
        return mimetypes.guess_type(key)[0] or "application/octet-stream"

    def put_bytes(self, data: bytes, ext: str | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = blob_key(hashlib.sha256(data).hexdigest(), ext)
        if self.exists(key):
            return key
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._object_key(key), Body=data, ContentType=self._content_type(key)
            )
        except (ClientError, BotoCoreError) as exc:
            raise BlobError(f"cannot upload {self.url(key)}: {exc}") from exc
        return key

    def put_file(self, path: Path | str, ext: str | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        source = Path(path)
        try:
            digest = _sha256_of_file(source)
        except OSError as exc:
            raise BlobError(f"cannot read {source}: {exc}") from exc
        key = blob_key(digest, ext if ext is not None else _suffix(source))
        if self.exists(key):
            return key
        try:
            # upload_file streams and switches to multipart for big files (PDFs, movies)
            self.client.upload_file(
                str(source), self.bucket, self._object_key(key), ExtraArgs={"ContentType": self._content_type(key)}
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise BlobError(f"cannot upload {source} to {self.url(key)}: {exc}") from exc
        return key

    def put_derived(self, key: str, data: bytes) -> None:
        """As LocalBlobStore.put_derived."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._object_key(key), Body=data, ContentType=self._content_type(key)
            )
        except (ClientError, BotoCoreError) as exc:
            raise BlobError(f"cannot upload {self.url(key)}: {exc}") from exc


def open_blob_store(url: str | Path, *, s3_endpoint: str | None = None) -> LocalBlobStore | S3BlobStore:
    """`s3://bucket/prefix` → S3BlobStore (endpoint: argument, else settings.blob_s3_endpoint);
    `file:///path` or a plain path → LocalBlobStore."""
    text = str(url)
    parts = urlsplit(text)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise BlobError(f"S3 blob URL has no bucket: {text!r} (expected s3://bucket/prefix)")
        endpoint = s3_endpoint
        if endpoint is None:
            from figmine.settings import get_settings

            endpoint = get_settings().blob_s3_endpoint
        return S3BlobStore(parts.netloc, parts.path.strip("/"), endpoint_url=endpoint)
    if parts.scheme == "file":
        return LocalBlobStore(Path(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # "C:\..." has a one-letter scheme on Windows
        raise BlobError(f"unsupported blob store URL {text!r}: use a folder path or s3://bucket/prefix")
    return LocalBlobStore(Path(text))


__all__ = [
    "BlobError",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_key",
    "check_key",
    "open_blob_store",
]
