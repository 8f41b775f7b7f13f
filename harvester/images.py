"""The one image loader: open any figure file PMC ships, refuse what is unsafe, normalise to RGB.

Figures come as JPEG (sometimes CMYK, Adobe-inverted), PNG (16-bit, palette + transparency, alpha),
GIF (animated), TIFF (multi-page, 16-bit). Everything downstream (hashing, detection, export) wants
one 8-bit RGB picture, so this module is the only place that knows about modes.

Safety: a decompression bomb (a small file declaring a huge canvas) is refused from the header,
before any pixel is decoded; a truncated file is reported, never silently padded (Pillow's global
LOAD_TRUNCATED_IMAGES is left alone).
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

# Pillow's bomb limit is a module global. We set it to the caller's limit while `Image.open` reads
# the header (where Pillow checks), under a lock so concurrent calls do not undo each other's value.
_PIXEL_LIMIT_LOCK = threading.Lock()
_SRGB = ImageCms.createProfile("sRGB")


class ImageError(Exception):
    """An image could not be used: not an image, truncated, a decompression bomb, unknown mode."""


@dataclass
class ImageInfo:
    width: int  # of the normalised picture (after EXIF orientation)
    height: int
    sha256: str  # of the original bytes, hex
    phash: str  # imagehash.phash of the RGB picture, 16 hex chars; near-duplicates differ in few bits
    format: str | None  # Pillow's name: JPEG, PNG, GIF, TIFF, ...
    mode: str  # the original mode: RGB, CMYK, P, I;16, LA, ...
    frames: int = 1  # >1 for animated GIF / multi-page TIFF (only the first is used)
    byte_size: int = 0
    rgb: Image.Image = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def to_bytes(self, fmt: str = "JPEG", *, quality: int = 90) -> bytes:
        """The normalised RGB picture encoded as JPEG or PNG (for export and blob storage)."""
        kind = fmt.upper().lstrip(".")
        kind = "JPEG" if kind == "JPG" else kind
        if kind not in ("JPEG", "PNG"):
            raise ValueError(f"unsupported output format {fmt!r}: use JPEG or PNG")
        out = io.BytesIO()
        if kind == "JPEG":
            self.rgb.save(out, "JPEG", quality=quality, optimize=True)
        else:
            self.rgb.save(out, "PNG", optimize=False)
        return out.getvalue()

    def phash_distance(self, other: "ImageInfo") -> int:
        return imagehash.hex_to_hash(self.phash) - imagehash.hex_to_hash(other.phash)


def _default_max_pixels() -> int:
    from figmine.settings import get_settings

    return get_settings().max_image_pixels


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    with _PIXEL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            im = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"decompression bomb refused: {name}: {exc}") from exc
        except (UnidentifiedImageError, ImportError) as exc:
            # ImportError: Ultralytics patches Image.open to load an optional HEIF plugin on failure
            raise ImageError(f"not a readable image: {name}") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"corrupt image header: {name}: {exc}") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    pixels = im.width * im.height
    if pixels > max_pixels or im.width <= 0 or im.height <= 0:
        raise ImageError(
            f"decompression bomb refused: {name} declares {im.width}x{im.height} = {pixels} pixels, "
            f"limit {max_pixels}"
        )
    return im


def _load(im: Image.Image, name: str) -> None:
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"decompression bomb refused: {name}: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc)
        if "truncated" in text.lower() or isinstance(exc, EOFError):
            raise ImageError(f"truncated image {name}: {text}") from exc
        raise ImageError(f"corrupt image {name}: {text}") from exc


_ORIENTATION: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except (OSError, ValueError, TypeError, SyntaxError):  # a broken EXIF block is not worth failing on
        return 1


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit greyscale (I;16, I, F) → L. Pillow's own convert clips at 255, losing the image."""
    arr = np.asarray(im)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float32))
    else:
        arr = arr.astype(np.float32)  # exact for 16-bit values, half the memory of float64
    if im.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    elif arr.size and 0 <= arr.min() and arr.max() <= 255 and im.mode != "F":
        lo, hi = 0.0, 255.0
    elif arr.size and 0 <= arr.min() and arr.max() <= 65535 and im.mode != "F":
        lo, hi = 0.0, 65535.0  # 16-bit data that Pillow widened to mode I
    else:  # floats or unusual ranges: stretch what is there
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    span = hi - lo or 1.0
    out = np.clip((arr - lo) * (255.0 / span), 0, 255).round().astype(np.uint8)
    return Image.fromarray(out)  # uint8 2-D → mode L


def _on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(im: Image.Image, name: str) -> Image.Image:
    mode = im.mode
    icc = im.info.get("icc_profile")
    if mode == "CMYK" and icc:
        # Colour-managed conversion when the file says how; Pillow's naive formula is the fallback.
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _scale_to_8bit(im).convert("RGB")
    if mode == "P":
        if "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA"):
            return _on_white(im)
        return im.convert("RGB")
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return _on_white(im)
    if mode in ("L", "1") and "transparency" in im.info:
        return _on_white(im)
    if mode == "RGB" and "transparency" in im.info:
        return _on_white(im)
    if mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError as exc:
        raise ImageError(f"cannot convert image mode {mode} to RGB: {name}") from exc


def load_image(
    path_or_bytes: Path | str | bytes,
    *,
    max_pixels: int | None = None,
    name: str | None = None,
) -> ImageInfo:
    """Open, check and normalise one image; raise ImageError with the file name and the reason.

    `max_pixels` defaults to settings.max_image_pixels. `name` is used in messages when bytes are given.
    """
    limit = max_pixels if max_pixels is not None else _default_max_pixels()
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        label = name or "<bytes>"
    else:
        path = Path(path_or_bytes)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image {label}: {exc}") from exc
    if not data:
        raise ImageError(f"empty image file: {label}")

    im = _open_checked(data, label, limit)
    frames = int(getattr(im, "n_frames", 1) or 1)
    fmt, mode = im.format, im.mode
    _load(im, label)  # first frame / first page: the file is positioned there after open
    try:
        rgb = _to_rgb(im, label)
        transpose = _ORIENTATION.get(_orientation(im))
        if transpose is not None:  # show the picture the way viewers do
            rgb = rgb.transpose(transpose)
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot normalise image {label} (mode {mode}): {exc}") from exc
    if rgb is im:
        rgb = im.copy()  # detach from the file object (and its frames)
    rgb.info.clear()  # do not carry ICC/EXIF of the original into exports of the RGB version
    return ImageInfo(
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(rgb)),
        format=fmt,
        mode=mode,
        frames=frames,
        byte_size=len(data),
        rgb=rgb,
    )
