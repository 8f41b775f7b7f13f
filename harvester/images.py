"""The one image loader: open any figure file PMC ships, refuse what is unsafe, normalise to RGB.

Figures come as JPEG (sometimes CMYK, Adobe-inverted), PNG (16-bit, palette + transparency, alpha),
GIF (animated), TIFF (multi-page, 16-bit). Everything downstream (hashing, detection, export) wants
one 8-bit RGB picture, so this module is the only place that knows about modes.

Safety: a decompression bomb (a small file declaring a huge canvas) is refused from the header,
before any pixel is decoded; a truncated file is reported, never silently padded (Pillow's global
LOAD_TRUNCATED_IMAGES is left alone).

Memory: a 612 KB PNG may declare 14,142² pixels (600 MB as RGB, 2 GB through Pillow's conversions).
Callers that need no full-resolution picture say how much they need (`max_side`); an image whose full
decode would cost more than `FULL_DECODE_BYTES` is then decoded reduced: JPEG with DCT scaling
(Pillow's `draft`), PNG/TIFF/GIF/WebP by libvips' shrink-on-load thumbnail, which streams the rows and
never holds the full picture. Smaller images are decoded in full exactly as before, so their pHash (what
dedup compares against stored corpora) does not change. Every decode holds one of
`settings.image_decode_slots` process-wide slots, so parallel requests or ingest threads cannot each
hold a large decode at once.
"""

from __future__ import annotations

import hashlib
import io
import math
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

# Peak bytes a full decode holds per pixel (decoded + normalised + pHash copies; measured with
# ru_maxrss on 24-megapixel images: RGB 9.8, CMYK 10, 16-bit grey 13.5, RGBA 19); above this budget a
# caller that allows it gets a reduced decode. 256 MiB: RGB up to ~26 megapixels, RGBA ~13.
FULL_DECODE_BYTES = 256 * 1024 * 1024
# What ingest and detection need from a large image: the detector works on at most 2,048 px.
REDUCED_SIDE = 2048
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# libvips reads these without holding the whole picture (row by row, or strip by strip); modes whose
# meaning it would change (32-bit integers, floats) stay with Pillow.
_VIPS_FORMATS = ("PNG", "TIFF", "GIF", "WEBP")
_VIPS_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I;16L", "I;16N")

_SLOTS: threading.BoundedSemaphore | None = None
_SLOTS_LOCK = threading.Lock()


class ImageError(Exception):
    """An image could not be used: not an image, truncated, a decompression bomb, unknown mode."""


@dataclass
class ImageInfo:
    width: int  # of the normalised picture (after EXIF orientation), in original pixels even when
    height: int  # `rgb` is a reduced decode
    sha256: str  # of the original bytes, hex
    phash: str  # imagehash.phash of the RGB picture, 16 hex chars; near-duplicates differ in few bits
    format: str | None  # Pillow's name: JPEG, PNG, GIF, TIFF, ...
    mode: str  # the original mode: RGB, CMYK, P, I;16, LA, ...
    frames: int = 1  # >1 for animated GIF / multi-page TIFF (only the first is used)
    byte_size: int = 0
    # the picture: full resolution, or reduced when the caller allowed it and a full decode was too big
    rgb: Image.Image = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def scale(self) -> float:
        """Original pixels per `rgb` pixel: 1.0 for a full decode; boxes in original pixels divide by it."""
        return self.width / self.rgb.width if self.rgb is not None and self.rgb.width else 1.0

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


def decode_slots() -> threading.BoundedSemaphore:
    """The process-wide slots every decode holds (settings.image_decode_slots of them)."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            from figmine.settings import get_settings

            _SLOTS = threading.BoundedSemaphore(max(1, get_settings().image_decode_slots))
        return _SLOTS


def full_decode_bytes(im: Image.Image) -> int:
    """Peak bytes a full decode of the opened `im` would hold (see FULL_DECODE_BYTES)."""
    if im.mode in _ALPHA_MODES or "transparency" in im.info or (
        im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    ):
        per_pixel = 20
    elif im.mode in _WIDE_MODES:
        per_pixel = 14
    else:
        per_pixel = 10
    return im.width * im.height * per_pixel + _jpeg_coefficient_bytes(im)


def _jpeg_coefficient_bytes(im: Image.Image) -> int:
    """libjpeg keeps every DCT coefficient of a progressive JPEG (2 bytes a sample) whatever the output
    scale; a baseline JPEG is decoded a row of blocks at a time."""
    layers = getattr(im, "layer", None)
    if im.format not in ("JPEG", "MPO") or not im.info.get("progressive") or not layers:
        return 0
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    samples = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
    return int(im.width * im.height * samples * 2)


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
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")  # convert would copy an RGBA picture
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


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(size))
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _oriented(im: Image.Image, rgb: Image.Image) -> Image.Image:
    transpose = _ORIENTATION.get(_orientation(im))
    return rgb.transpose(transpose) if transpose is not None else rgb  # as viewers show it


def _decode_full(im: Image.Image, label: str) -> Image.Image:
    _load(im, label)  # first frame / first page: the file is positioned there after open
    rgb = _oriented(im, _to_rgb(im, label))
    return im.copy() if rgb is im else rgb  # detach from the file object (and its frames)


def _decode_jpeg_reduced(im: Image.Image, label: str, side: int) -> tuple[Image.Image, int]:
    """DCT scaling: libjpeg decodes 1/2, 1/4 or 1/8 of each side directly (never below `side`)."""
    needed = _jpeg_coefficient_bytes(im)
    if needed > FULL_DECODE_BYTES:
        raise ImageError(
            f"progressive JPEG too large to decode: {label} ({im.width}x{im.height} needs "
            f"{needed // 2**20} MiB of coefficients, limit {FULL_DECODE_BYTES // 2**20} MiB)"
        )
    im.draft(im.mode, _fit(im.size, side))
    rgb = _decode_full(im, label)
    return rgb, _orientation(im)


def _decode_vips_reduced(data: bytes, label: str, side: int) -> tuple[Image.Image, int]:
    """libvips' thumbnail: shrink-on-load, rows streamed; first page, EXIF orientation and embedded
    CMYK profile applied, 16-bit scaled to 8; alpha composited on white here as _to_rgb does."""
    import pyvips

    pyvips.cache_set_max(0)  # libvips' operation cache would keep recent inputs and pictures alive
    try:
        header = pyvips.Image.new_from_buffer(data, "", access="sequential")  # reads the header only
        orientation = int(header.get("orientation")) if header.get_typeof("orientation") else 1
        thumb = pyvips.Image.thumbnail_buffer(data, side, height=side, size="down",
                                              option_string="fail_on=truncated")
        if thumb.format != "uchar" or thumb.interpretation not in ("srgb", "b-w"):
            thumb = thumb.colourspace("srgb")
        if thumb.hasalpha():
            thumb = thumb.flatten(background=[255])
        if thumb.bands != 3:
            thumb = thumb.colourspace("srgb")
        pixels = thumb.numpy()
    except pyvips.Error as exc:
        text = " ".join(str(exc).split())
        raise ImageError(f"truncated or corrupt image {label}: {text}") from exc
    return Image.fromarray(pixels, "RGB"), orientation


def _decode_reduced(im: Image.Image, data: bytes, label: str, side: int) -> tuple[Image.Image, int]:
    """A picture whose longer side is `side` to 2 × `side`, with the EXIF orientation it applied."""
    if im.format in ("JPEG", "MPO"):
        return _decode_jpeg_reduced(im, label, side)
    if im.format in _VIPS_FORMATS and im.mode in _VIPS_MODES:
        return _decode_vips_reduced(data, label, side)
    # other formats (BMP, PPM, ...) and 32-bit modes: Pillow has no reduced decode for them
    rgb = _decode_full(im, label)
    factor = max(1, max(rgb.size) // side)
    return (rgb.reduce(factor) if factor > 1 else rgb), _orientation(im)


def load_image(
    path_or_bytes: Path | str | bytes,
    *,
    max_pixels: int | None = None,
    name: str | None = None,
    max_side: int | None = None,
) -> ImageInfo:
    """Open, check and normalise one image; raise ImageError with the file name and the reason.

    `max_pixels` defaults to settings.max_image_pixels. `name` is used in messages when bytes are given.
    `max_side`: the caller needs no more than this many pixels on the longer side. An image whose full
    decode would hold more than FULL_DECODE_BYTES is then decoded reduced (`rgb`'s longer side at least
    `max_side`, at most twice it; pHash from that picture); others come in full as without it.
    Without `max_side`, `rgb` is always the full-resolution picture.
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
    width, height = im.size
    reduce = max_side is not None and max(im.size) > max_side and full_decode_bytes(im) > FULL_DECODE_BYTES
    with decode_slots():
        try:
            if reduce:
                rgb, orientation = _decode_reduced(im, data, label, max_side)
                if orientation in (5, 6, 7, 8):  # the picture is turned a quarter
                    width, height = height, width
            else:
                rgb = _decode_full(im, label)
                width, height = rgb.size
        except ImageError:
            raise
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot normalise image {label} (mode {mode}): {exc}") from exc
        im.close()
        del im  # the decoded original is not needed while hashing
        rgb.info.clear()  # do not carry ICC/EXIF of the original into exports of the RGB version
        phash = str(imagehash.phash(rgb))
    return ImageInfo(
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=phash,
        format=fmt,
        mode=mode,
        frames=frames,
        byte_size=len(data),
        rgb=rgb,
    )
