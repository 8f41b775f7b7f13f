"""What an exporter writes: samples (key, text, JSON record, JPEG image), built from figure rows.

Every exported image is a JPEG. A figure stored as JPEG is exported byte for byte (a local blob is
hard-linked, not read, when the format writes image files); other formats (PNG, TIFF, GIF) go through
figmine's one image loader (`harvester.images.load_image`: RGB, EXIF orientation) and are encoded as
JPEG. A panel is cropped from its figure's picture — decoded once per figure — with its box clamped to
the picture, and encoded as JPEG; its sha256 and (for phash dedup) pHash are those of the crop.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

import imagehash

from harvester.images import load_image
from store.blobs import BlobError, BlobStore, LocalBlobStore, check_key
from store.figure_records import FigureRow, figure_key, panel_key

JPEG_QUALITY = 95


class SampleError(Exception):
    """A sample could not be built (missing blob, unreadable image)."""


@dataclass
class Sample:
    key: str  # unique in the export; no dots or slashes (a WebDataset key)
    article_key: str
    record: dict  # the JSON record; writers set record["image"]
    text: str
    image: bytes | None = None  # JPEG bytes
    image_path: str | None = None  # a local file holding exactly the JPEG bytes (hard-link source)
    sha256: str | None = None  # what dedup compares
    phash: str | None = None
    split: str = ""

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_path is not None

    def image_bytes(self) -> bytes | None:
        if self.image is not None:
            return self.image
        if self.image_path is not None:
            try:
                with open(self.image_path, "rb", buffering=0) as handle:
                    return handle.readall()
            except FileNotFoundError as exc:
                raise SampleError(f"{self.key}: blob not found: {self.image_path}") from exc
            except OSError as exc:
                raise SampleError(f"{self.key}: cannot read {self.image_path}: {exc}") from exc
        return None


class SampleBuilder:
    """Turns figure rows into samples; runs in worker threads (blob reads, decoding, encoding)."""

    def __init__(self, blobs: BlobStore, *, with_images: bool, need_bytes: bool, panel_phash: bool,
                 max_pixels: int | None = None):
        self.blobs = blobs
        # LocalBlobStore.path(key) as a string: pathlib costs ~15 µs a call, a tenth of a figure's budget
        self._local_root = str(blobs.root) + os.sep if isinstance(blobs, LocalBlobStore) else None
        self.with_images = with_images
        self.need_bytes = need_bytes  # False: a local JPEG blob may be handed over as a path
        self.panel_phash = panel_phash
        self.max_pixels = max_pixels

    def figure_sample(self, row: FigureRow) -> list[Sample]:
        record = row.record  # the row's own dict, made for this sample
        sample = Sample(
            key=figure_key(row), article_key=row.article_key, record=record, text=record.get("caption") or "",
            sha256=row.sha256, phash=row.phash,
        )
        if self.with_images and row.image_key:
            if (row.image_format or "").upper() == "JPEG":
                if not self.need_bytes and self._local_root is not None:
                    sample.image_path = self._local_root + check_key(row.image_key)  # read by the writer
                else:
                    sample.image = self._read(sample.key, row.image_key)
            else:
                data = self._read(sample.key, row.image_key)
                sample.image = self._decode(sample.key, row.image_key, data).to_bytes("JPEG", quality=JPEG_QUALITY)
        return [sample]

    def panel_samples(self, row: FigureRow, *, hashes: bool) -> list[Sample]:
        """One sample per panel; crops when images are exported or dedup needs the crop's hashes."""
        samples = []
        picture = None
        if row.image_key and (self.with_images or hashes):
            picture = self._decode(figure_key(row), row.image_key, self._read(figure_key(row), row.image_key)).rgb
        for panel in row.panels:
            record = dict(panel.record)
            sample = Sample(key=panel_key(row, panel), article_key=row.article_key, record=record,
                            text=record.get("text") or "")
            x1, y1, x2, y2 = panel.box
            width, height = row.record.get("width") or x2, row.record.get("height") or y2
            record["width"], record["height"] = max(0, min(x2, width) - max(0, x1)), max(0, min(y2, height) - max(0, y1))
            if picture is not None:
                box = (max(0, x1), max(0, y1), min(picture.width, x2), min(picture.height, y2))
                if box[2] <= box[0] or box[3] <= box[1]:
                    raise SampleError(
                        f"{sample.key}: panel box {list(panel.box)} lies outside the figure "
                        f"({picture.width}×{picture.height})"
                    )
                crop = picture.crop(box)
                out = io.BytesIO()
                crop.save(out, "JPEG", quality=JPEG_QUALITY)
                data = out.getvalue()
                record["width"], record["height"] = crop.width, crop.height
                record["sha256"] = sample.sha256 = hashlib.sha256(data).hexdigest()
                if self.panel_phash:
                    sample.phash = str(imagehash.phash(crop))
                if self.with_images:
                    sample.image = data
            samples.append(sample)
        return samples

    def _read(self, key: str, blob_key: str) -> bytes:
        try:
            if self._local_root is not None:
                try:
                    with open(self._local_root + check_key(blob_key), "rb", buffering=0) as handle:
                        return handle.readall()
                except FileNotFoundError as exc:
                    raise BlobError(f"blob not found: {blob_key} (in {self.blobs.root})") from exc
            return self.blobs.open(blob_key)
        except BlobError as exc:
            raise SampleError(f"{key}: {exc}") from exc

    def _decode(self, key: str, blob_key: str, data: bytes):
        from harvester.images import ImageError

        try:
            return load_image(data, name=f"{key} ({blob_key})", max_pixels=self.max_pixels)
        except ImageError as exc:
            raise SampleError(str(exc)) from exc
