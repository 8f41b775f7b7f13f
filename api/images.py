"""Figure bytes for HTTP: content types, ETags, panel crops and thumbnails computed on demand.

A crop is cut from the figure as the one image loader normalises it (RGB, EXIF orientation applied):
the detector's boxes are in those pixels. Its ETag is derived from the figure's sha256 and the box, so
a revalidation (`If-None-Match`) is answered without decoding anything. Thumbnails (the browse
page's gallery and figure view) work the same way, keyed by the figure's sha256 and the size, and
recent ones are kept in a small in-process cache (`ThumbnailCache`).
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
from collections import OrderedDict

from PIL import Image

from harvester.images import ImageError, load_image

CROP_QUALITY = 90
THUMBNAIL_QUALITY = 85
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
    """The panel `box` (x1, y1, x2, y2; clipped to the picture) as a JPEG."""
    info = load_image(figure_bytes, name=name)  # raises ImageError for unusable images
    x1, y1, x2, y2 = box
    x1, y1 = max(0, min(x1, info.width)), max(0, min(y1, info.height))
    x2, y2 = max(0, min(x2, info.width)), max(0, min(y2, info.height))
    if x2 <= x1 or y2 <= y1:
        raise CropError(f"panel box {box} lies outside the {info.width}×{info.height} figure")
    out = io.BytesIO()
    info.rgb.crop((x1, y1, x2, y2)).save(out, "JPEG", quality=CROP_QUALITY)
    return out.getvalue()


def thumbnail_etag(figure_sha256: str | None, image_key: str, max_side: int) -> str:
    basis = f"{figure_sha256 or image_key}:thumb{max_side}:jpeg{THUMBNAIL_QUALITY}"
    return etag_for(hashlib.sha256(basis.encode()).hexdigest())


def thumbnail_jpeg(figure_bytes: bytes, max_side: int, *, name: str) -> bytes:
    """The figure as a JPEG whose longer side is at most `max_side` (never enlarged), in the same
    normalised pixels as the detector's boxes, so a box scales onto it by width and height alone.
    A JPEG whatever the original was: browsers show it even when the figure is a TIFF."""
    info = load_image(figure_bytes, name=name)  # raises ImageError for unusable images
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


__all__ = [
    "CropError", "ImageError", "ThumbnailCache", "content_type", "crop_etag", "crop_jpeg", "etag_for",
    "etag_matches", "thumbnail_etag", "thumbnail_jpeg",
]
