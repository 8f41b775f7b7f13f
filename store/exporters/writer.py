"""The interface every format writer shares, and the bookkeeping that keeps failed exports clean.

A writer receives samples already assigned to a split, in export order, and writes one or more files
per split. Every file is written under `<name>.part` and renamed when complete, so a reader never
sees half a shard; on failure `abort()` removes the partial files and every file the export had
already completed (a failed export leaves nothing a reader could mistake for a result).

Layout of an export folder (`out` is a folder):
    manifest.json
    <split>-000000.tar … | <split>-000000.parquet … | <split>.jsonl | <split>.csv
    images/<key>.jpg       (JSONL and CSV: the images beside the records)
With `out` naming a file (`figures.jsonl`, `pairs.csv`), the one split is written to that file (more
splits to `figures-<split>.jsonl`), the manifest to `figures.manifest.json`, images to `images/`.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from store.exporters.samples import Sample

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


class ExportError(Exception):
    """An export that cannot run or failed; the message says why."""


def parse_bytes(text: str) -> int:
    """'500MB' → 500_000_000, '1GiB' → 2**30, '1000' → 1000."""
    m = _SIZE_RE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ExportError(f"cannot read size {text!r}: use e.g. 500MB, 1GiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class ShardSize:
    """A shard is closed when it holds `records` samples or would pass `bytes` (whichever comes first)."""

    records: int | None = 10_000
    bytes: int | None = 1_000_000_000

    def __post_init__(self) -> None:
        if self.records is not None and self.records < 1:
            raise ExportError(f"shard size {self.records} records: must be at least 1")
        if self.bytes is not None and self.bytes < 1:
            raise ExportError(f"shard size {self.bytes} bytes: must be at least 1")

    def full(self, records: int, size: int, next_size: int) -> bool:
        if records == 0:
            return False  # a sample bigger than the limit still gets a shard of its own
        if self.records is not None and records >= self.records:
            return True
        return self.bytes is not None and size + next_size > self.bytes

    def to_dict(self) -> dict:
        return {"records": self.records, "bytes": self.bytes}

    @classmethod
    def from_value(cls, value: "ShardSize | dict | str | int | None") -> "ShardSize":
        """10000 (records), "1GB" (bytes), "10000,1GB" (both), {"records": …, "bytes": …}; None: defaults."""
        if value is None:
            return cls()
        if isinstance(value, ShardSize):
            return value
        if isinstance(value, int):
            return cls(records=value, bytes=None)
        if isinstance(value, dict):
            return cls(records=value.get("records"), bytes=value.get("bytes"))
        records = size = None
        for part in str(value).replace(" ", "").split(","):
            if not part:
                continue
            if part.isdigit():
                records = int(part)
            else:
                size = parse_bytes(part)
        if records is None and size is None:
            raise ExportError(f"cannot read shard size {value!r}: use 10000, 1GB or 10000,1GB")
        return cls(records=records, bytes=size)


@dataclass
class ExportFile:
    path: str  # relative to the export folder, '/'-separated
    bytes: int
    records: int
    split: str | None
    kind: str  # shard | data | images | card | sizes | manifest

    def to_dict(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "records": self.records, "split": self.split,
                "kind": self.kind}


class Layout:
    """Where an export's files go (see the module docstring)."""

    def __init__(self, out: Path, file_suffix: str | None):
        out = Path(out).expanduser().absolute()
        self.single_file = file_suffix is not None and out.suffix.lower() == file_suffix
        if self.single_file:
            self.root, self.stem = out.parent, out.stem
        else:
            self.root, self.stem = out, None

    @property
    def manifest(self) -> Path:
        return self.root / (f"{self.stem}.manifest.json" if self.stem else "manifest.json")

    @property
    def images(self) -> Path:
        return self.root / "images"

    def data_file(self, split: str, ext: str, *, only_split: bool) -> Path:
        if self.stem:
            return self.root / (f"{self.stem}.{ext}" if only_split else f"{self.stem}-{split}.{ext}")
        return self.root / f"{split}.{ext}"

    def shard(self, split: str, index: int, ext: str) -> Path:
        prefix = f"{self.stem}-{split}" if self.stem else split
        return self.root / f"{prefix}-{index:06d}.{ext}"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def prepare(self) -> None:
        """Refuse a folder that already holds files (stale shards would mix with the new ones)."""
        if self.single_file:
            self.root.mkdir(parents=True, exist_ok=True)
            return
        if self.root.exists():
            if not self.root.is_dir():
                raise ExportError(f"{self.root} exists and is not a folder")
            if any(self.root.iterdir()):
                raise ExportError(f"export folder {self.root} is not empty: give a new or empty folder")
        self.root.mkdir(parents=True, exist_ok=True)


class PartFiles:
    """Tracks the files an export creates, to rename them when complete or remove them on failure."""

    def __init__(self) -> None:
        self.created: list[Path] = []  # completed files this export created
        self.open_parts: set[Path] = set()

    def part(self, final: Path) -> Path:
        part = final.with_name(final.name + ".part")
        self.open_parts.add(part)
        return part

    def commit(self, final: Path) -> None:
        part = final.with_name(final.name + ".part")
        os.replace(part, final)
        self.open_parts.discard(part)
        self.created.append(final)

    def created_file(self, path: Path) -> None:
        self.created.append(path)

    def remove_all(self) -> None:
        for path in list(self.open_parts) + self.created:
            try:
                path.unlink(missing_ok=True)
            except IsADirectoryError:
                shutil.rmtree(path, ignore_errors=True)
        self.open_parts.clear()
        self.created.clear()


class FormatWriter:
    """Base of the format writers: `write(sample)`, `close() -> files`, `abort()`."""

    format: str = ""
    file_suffix: str | None = None  # formats whose --out may name a single file (".jsonl", ".csv")
    needs_images: bool = False  # samples without an image are skipped
    needs_bytes: bool = True  # False: a local file path may stand in for the image bytes

    def __init__(self, layout: Layout, splits: list[str], shard_size: ShardSize, *, with_images: bool):
        self.layout = layout
        self.splits = splits
        self.shard_size = shard_size
        self.with_images = with_images
        self.parts = PartFiles()
        self.files: list[ExportFile] = []

    def write(self, sample: Sample) -> int:
        """Write one sample; return the bytes it added to the export."""
        raise NotImplementedError

    def close(self) -> list[ExportFile]:
        raise NotImplementedError

    def abort(self) -> None:
        """Close what is open and remove every file this writer created."""
        self.parts.remove_all()

    def _done(self, path: Path, records: int, split: str | None, kind: str) -> None:
        self.parts.commit(path)
        self.files.append(ExportFile(self.layout.relative(path), path.stat().st_size, records, split, kind))
