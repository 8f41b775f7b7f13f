"""Content-addressed blob store: same bytes → same key, atomic local writes, S3 via moto's server."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from store.blobs import (
    BlobError,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_key,
    check_key,
    open_blob_store,
)

DATA = b"\x89PNG fake figure bytes"
SHA = hashlib.sha256(DATA).hexdigest()


def test_key_layout() -> None:
    assert blob_key(SHA, "png") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}.png"
    assert blob_key(SHA, ".JPEG") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}.jpg"
    assert blob_key(SHA, "") == f"{SHA[:2]}/{SHA[2:4]}/{SHA}"
    with pytest.raises(BlobError, match="not a sha256"):
        blob_key("abc", "png")
    with pytest.raises(BlobError, match="unusable blob extension"):
        blob_key(SHA, "p/../ng")


@pytest.mark.parametrize(
    "key",
    ["../../etc/passwd", f"{SHA[:2]}/{SHA[2:4]}/../{SHA}.png", f"ff/ff/{SHA}.png", f"/{SHA[:2]}/{SHA[2:4]}/{SHA}.png"],
)
def test_foreign_keys_refused(key: str) -> None:
    with pytest.raises(BlobError, match="not a blob key"):
        check_key(key)


# --- local ----------------------------------------------------------------------------------------


def test_local_put_bytes_and_read_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    assert isinstance(store, BlobStore)
    key = store.put_bytes(DATA, "png")
    assert key == blob_key(SHA, "png")
    assert store.exists(key)
    assert store.open(key) == DATA
    assert store.path(key) == tmp_path / "blobs" / key
    assert store.path(key).read_bytes() == DATA
    assert oct(store.path(key).stat().st_mode & 0o777) == oct(0o644)
    assert store.url(key).startswith("file://")


def test_local_is_idempotent_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put_bytes(DATA, "png")
    mtime = store.path(key).stat().st_mtime_ns
    assert store.put_bytes(DATA, "png") == key
    assert store.path(key).stat().st_mtime_ns == mtime, "an existing blob must not be rewritten"
    leftovers = [p for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []


def test_local_put_file_streams_and_uses_the_suffix(tmp_path: Path) -> None:
    src = tmp_path / "Figure1.JPG"
    payload = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    src.write_bytes(payload)
    store = LocalBlobStore(tmp_path / "blobs")
    key = store.put_file(src)
    assert key == blob_key(hashlib.sha256(payload).hexdigest(), "jpg")
    assert store.open(key) == payload
    assert store.put_file(src, ext="bin").endswith(".bin")


def test_local_concurrent_writers_of_the_same_content(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    payload = os.urandom(1 << 20)
    keys: list[str] = []

    def put() -> None:
        keys.append(store.put_bytes(payload, "png"))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    assert store.open(keys[0]) == payload
    assert list(tmp_path.rglob(".tmp-*")) == []


def test_local_missing_blob_and_bad_source(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    missing = blob_key("0" * 64, "png")
    assert not store.exists(missing)
    with pytest.raises(BlobError, match="blob not found"):
        store.open(missing)
    with pytest.raises(BlobError, match="cannot read"):
        store.put_file(tmp_path / "nope.png")
    with pytest.raises(BlobError, match="not a blob key"):
        store.open("../../etc/passwd")


def test_open_blob_store_local(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(str(tmp_path / "a")), LocalBlobStore)
    file_store = open_blob_store((tmp_path / "b").as_uri())
    assert isinstance(file_store, LocalBlobStore) and file_store.root == (tmp_path / "b").resolve()
    with pytest.raises(BlobError, match="unsupported blob store URL"):
        open_blob_store("ftp://example.org/blobs")
    with pytest.raises(BlobError, match="no bucket"):
        open_blob_store("s3:///prefix")


# --- S3 (moto server on 127.0.0.1) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials and a fresh bucket on the moto server; returns the bucket name."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"blobs-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    return bucket


def test_s3_put_open_exists(moto_endpoint: str, s3_env: str, tmp_path: Path) -> None:
    store = S3BlobStore(s3_env, "figmine/blobs", endpoint_url=moto_endpoint)
    assert isinstance(store, BlobStore)
    key = store.put_bytes(DATA, "png")
    assert key == blob_key(SHA, "png")
    assert store.exists(key)
    assert store.open(key) == DATA
    assert store.url(key) == f"s3://{s3_env}/figmine/blobs/{key}"
    raw = boto3.client("s3", endpoint_url=moto_endpoint).head_object(Bucket=s3_env, Key=f"figmine/blobs/{key}")
    assert raw["ContentType"] == "image/png"

    src = tmp_path / "fig.jpg"
    src.write_bytes(b"jpeg bytes " * 1000)
    file_key = store.put_file(src)
    assert file_key.endswith(".jpg") and store.open(file_key) == src.read_bytes()

    missing = blob_key("0" * 64, "png")
    assert not store.exists(missing)
    with pytest.raises(BlobError, match="blob not found"):
        store.open(missing)


def test_s3_skips_upload_when_the_object_exists(moto_endpoint: str, s3_env: str) -> None:
    store = S3BlobStore(s3_env, "", endpoint_url=moto_endpoint)
    key = store.put_bytes(DATA, "png")
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.PutObject", lambda **kw: calls.append("put"))
    assert store.put_bytes(DATA, "png") == key
    assert calls == [], "an existing blob must not be uploaded again"
    store.put_bytes(b"new content", "png")
    assert calls == ["put"], "the hook sees real uploads"
    assert store.url(key) == f"s3://{s3_env}/{key}"


def test_open_blob_store_s3_uses_the_settings_endpoint(
    moto_endpoint: str, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from figmine.settings import get_settings

    monkeypatch.setenv("FIGMINE_BLOB_S3_ENDPOINT", moto_endpoint)
    get_settings.cache_clear()
    try:
        store = open_blob_store(f"s3://{s3_env}/some/prefix/")
    finally:
        get_settings.cache_clear()
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == (s3_env, "some/prefix", moto_endpoint)
    key = store.put_bytes(b"abc", "txt")
    assert store.open(key) == b"abc"
