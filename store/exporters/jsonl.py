"""JSONL export: one JSON object per figure (or panel) per line, `<split>.jsonl`; images beside it
under `images/<key>.jpg`, the record's `image` being that path relative to the JSONL file's folder.
A split that gets no record gets no file (loaders refuse an empty one)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from store.blobs import BlobStore
from store.exporters.image_folder import ImageFolder
from store.exporters.samples import Sample, SampleBuilder
from store.exporters.writer import ExportFile, FormatWriter, Layout, ShardSize
from store.figure_records import FigureRow


class JsonlWriter(FormatWriter):
    format = "jsonl"
    file_suffix = ".jsonl"
    needs_bytes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.images = ImageFolder(self.layout.images, self.parts)
        self.handles: dict[str, tuple[Path, IO[str], list[int]]] = {}

    def _handle(self, split: str):
        if split not in self.handles:
            path = self.layout.data_file(split, "jsonl", only_split=len(self.splits) == 1)
            self.handles[split] = (path, self.parts.part(path).open("w", encoding="utf-8"), [0])
        return self.handles[split]

    def write(self, sample: Sample) -> int:
        added = 0
        record = sample.record
        if self.with_images and sample.has_image:
            record["image"], added = self.images.put(sample)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        _, handle, count = self._handle(sample.split)
        handle.write(line)
        count[0] += 1
        return added + len(line.encode())

    def close(self) -> list[ExportFile]:
        for split in self.splits:
            if split not in self.handles and len(self.splits) > 1:
                continue
            path, handle, count = self._handle(split)
            handle.close()
            self._done(path, count[0], split, "data")
        if self.images.count:
            self.files.append(ExportFile("images/", self.images.bytes, self.images.count, None, "images"))
        return self.files

    def abort(self) -> None:
        for _, handle, _ in self.handles.values():
            handle.close()
        self.handles.clear()
        super().abort()


@dataclass
class ExportCounts:
    figures: int = 0
    images: int = 0
    bytes: int = 0


def write_jsonl(
    rows: Iterable[FigureRow],
    out: Path,
    blobs: BlobStore,
    *,
    with_images: bool = True,
    on_row: Callable[[ExportCounts], None] | None = None,
) -> ExportCounts:
    """Figure rows → one JSONL file (the pre-engine entry point; `engine.run_export` does the rest)."""
    from store.exporters.splits import ALL

    layout = Layout(Path(out), ".jsonl")
    layout.prepare()
    writer = JsonlWriter(layout, [ALL], ShardSize(), with_images=with_images)
    builder = SampleBuilder(blobs, with_images=with_images, need_bytes=False, panel_phash=False)
    counts = ExportCounts()
    try:
        for row in rows:
            for sample in builder.figure_sample(row):
                sample.split = ALL
                counts.bytes += writer.write(sample)
                counts.images += sample.has_image and with_images
                counts.figures += 1
                if on_row:
                    on_row(counts)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return counts
