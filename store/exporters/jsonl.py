"""JSONL export: one JSON object per figure; images copied beside it under `images/`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from store.blobs import BlobStore, LocalBlobStore
from store.figure_records import FigureRow


@dataclass
class ExportCounts:
    figures: int = 0
    images: int = 0
    bytes: int = 0


def _image_name(record: dict, key: str) -> str:
    ext = key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else "bin"
    return f"{record['sha256'] or key.rsplit('/', 1)[-1].split('.')[0]}.{ext}"


def write_jsonl(
    rows: Iterable[FigureRow],
    out: Path,
    blobs: BlobStore,
    *,
    with_images: bool = True,
    on_row: Callable[[ExportCounts], None] | None = None,
) -> ExportCounts:
    """Write to a temporary file and rename at the end, so a failed export leaves no half file."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    images_dir = out.parent / "images"
    tmp = out.with_name(out.name + ".part")
    counts = ExportCounts()
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                record = dict(row.record)
                if with_images and row.image_key:
                    name = _image_name(record, row.image_key)
                    target = images_dir / name
                    if not target.exists():
                        images_dir.mkdir(exist_ok=True)
                        counts.bytes += _copy_blob(blobs, row.image_key, target)
                        counts.images += 1
                    record["image"] = os.path.relpath(target, out.parent)
                line = json.dumps(record, ensure_ascii=False)
                handle.write(line + "\n")
                counts.bytes += len(line) + 1
                counts.figures += 1
                if on_row:
                    on_row(counts)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


def _copy_blob(blobs: BlobStore, key: str, target: Path) -> int:
    """Hard-link from a local blob store when possible (same file system), else copy the bytes."""
    part = target.with_name(target.name + ".part")
    local = blobs.path(key) if isinstance(blobs, LocalBlobStore) else None
    if local is not None:
        try:
            os.link(local, part)
        except OSError:
            shutil.copyfile(local, part)
    else:
        part.write_bytes(blobs.open(key))
    os.replace(part, target)
    return target.stat().st_size
