"""Figure bytes for HTTP: content types, ETags, panel crops on demand, thumbnails made once.

A crop is cut from the figure as the one image loader normalises it (RGB, EXIF orientation applied):
the detector's boxes are in those pixels. Its ETag is derived from the figure's sha256 and the box, so
a revalidation (`If-None-Match`) is answered without decoding anything. A figure too large to decode
in full within the loader's budget is cut from a picture of at most `CROP_SIDE` pixels.

Thumbnails (the browse page's gallery and figure view) come in a few fixed sizes (`THUMBNAIL_SIDES`;
a requested size snaps to the nearest). Each is decoded from the original once, reduced where the
format allows, and kept in the blob store under a key derived from the figure's sha256 and the size
(`thumbnail_key`); recent ones are also kept in memory (`ThumbnailCache`), and concurrent requests
for one thumbnail wait for a single maker. So any number of requests costs at most one decode per
figure and size, and the loader's decode slots bound how many run at once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import mimetypes
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from harvester.images import ImageError, load_image
from store.blobs import BlobError, BlobStore, blob_key

log = logging.getLogger(__name__)

CROP_QUALITY = 90
CROP_SIDE = 4096
THUMBNAIL_QUALITY = 85
THUMBNAIL_SIDES = (64, 160, 320, 800, 1600, 2048)  # the gallery asks for 320, the figure page 1600
CACHE_CONTROL = "public, max-age=86400"

_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "bmp": "image/bmp",
}


def content_type(image_format: str | None, key: str) -> str:
    fmt = (image_format or "").lower().lstrip(".")
    if fmt in _TYPES:
        return _TYPES[fmt]
    ext = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return _TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def etag_for(digest: str) -> str:
    return f'"{digest}"'


def crop_etag(figure_sha256: str | None, image_key: str, box: tuple[int, int, int, int]) -> str:
    basis = f"{figure_sha256 or image_key}:{box[0]},{box[1]},{box[2]},{box[3]}:jpeg{CROP_QUALITY}"
    return etag_for(hashlib.sha256(basis.encode()).hexdigest())


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


class CropError(ValueError):
    """The box does not overlap the picture."""


def crop_jpeg(figure_bytes: bytes, box: tuple[int, int, int, int], *, name: str) -> bytes:
    """The panel `box` (x1, y1, x2, y2 in original pixels; clipped to the picture) as a JPEG."""
    info = load_image(figure_bytes, name=name, max_side=CROP_SIDE)  # raises ImageError for unusable images
    x1, y1, x2, y2 = box
    x1, y1 = max(0, min(x1, info.width)), max(0, min(y1, info.height))
    x2, y2 = max(0, min(x2, info.width)), max(0, min(y2, info.height))
    if x2 <= x1 or y2 <= y1:
        raise CropError(f"panel box {box} lies outside the {info.width}×{info.height} figure")
    scale = info.scale  # 1.0 unless the figure came decoded reduced
    area = (x1, y1, x2, y2) if scale == 1.0 else tuple(round(v / scale) for v in (x1, y1, x2, y2))
    out = io.BytesIO()
    info.rgb.crop(area).save(out, "JPEG", quality=CROP_QUALITY)
    return out.getvalue()


def thumbnail_side(max_side: int) -> int:
    """The fixed thumbnail size nearest to `max_side` (by ratio; the larger one on a tie)."""
    return min(THUMBNAIL_SIDES, key=lambda side: (abs(math.log(side / max(1, max_side))), -side))


def thumbnail_etag(figure_sha256: str | None, image_key: str, max_side: int) -> str:
    basis = f"{figure_sha256 or image_key}:thumb{max_side}:jpeg{THUMBNAIL_QUALITY}"
    return etag_for(hashlib.sha256(basis.encode()).hexdigest())


def thumbnail_key(figure_sha256: str | None, image_key: str, side: int) -> str:
    """The blob key of a figure's thumbnail, derived from the figure's sha256 and the size."""
    basis = f"thumbnail:{figure_sha256 or image_key}:{side}:jpeg{THUMBNAIL_QUALITY}"
    return blob_key(hashlib.sha256(basis.encode()).hexdigest(), "jpg")


def thumbnail_jpeg(figure_bytes: bytes, max_side: int, *, name: str) -> bytes:
    """The figure as a JPEG whose longer side is at most `max_side` (never enlarged), in the same
    normalised pixels as the detector's boxes, so a box scales onto it by width and height alone.
    A JPEG whatever the original was: browsers show it even when the figure is a TIFF."""
    info = load_image(figure_bytes, name=name, max_side=max_side)  # raises ImageError for unusable images
    picture = info.rgb
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


class ThumbnailCache:
    """The most recently served thumbnails, by ETag, up to `max_bytes` in all (thread-safe).

    A gallery page asks for a few dozen thumbnails at once and decoding a large figure takes tens of
    milliseconds; browsers keep them too (ETag, Cache-Control), this covers other clients and users."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


class _KeyLocks:
    """One lock per key while anyone holds it: concurrent makers of one thumbnail wait for the first."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_making = _KeyLocks()


def stored_thumbnail(blobs: BlobStore, figure_sha256: str | None, image_key: str, side: int,
                     cache: ThumbnailCache) -> bytes:
    """The thumbnail of one fixed size: from memory, else the blob store, else made from the original
    once and stored. Raises BlobError when the original is missing, ImageError when it is unusable."""
    key = thumbnail_key(figure_sha256, image_key, side)
    data = cache.get(key)
    if data is not None:
        return data
    with _making.hold(key):
        data = cache.get(key)  # made by the request this one waited for
        if data is None:
            try:
                data = blobs.open(key)
            except BlobError:
                data = None
        if data is None:
            data = thumbnail_jpeg(blobs.open(image_key), side, name=image_key)
            try:
                blobs.put_derived(key, data)
            except BlobError as exc:  # served all the same; made again next time
                log.warning("cannot keep thumbnail %s of %s: %s", key, image_key, exc)
        cache.put(key, data)
    return data


__all__ = [
    "CROP_SIDE", "THUMBNAIL_SIDES", "CropError", "ImageError", "ThumbnailCache", "content_type", "crop_etag",
    "crop_jpeg", "etag_for", "etag_matches", "stored_thumbnail", "thumbnail_etag", "thumbnail_jpeg",
    "thumbnail_key", "thumbnail_side",
]
