"""Figure bytes for HTTP: content types, ETags, and panel crops computed on demand.

A crop is cut from the figure as the one image loader normalises it (RGB, EXIF orientation applied):
the detector's boxes are in those pixels. Its ETag is derived from the figure's sha256 and the box, so
a revalidation (`If-None-Match`) is answered without decoding anything.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes

from harvester.images import ImageError, load_image

CROP_QUALITY = 90
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


__all__ = ["CropError", "ImageError", "content_type", "crop_etag", "crop_jpeg", "etag_for", "etag_matches"]
