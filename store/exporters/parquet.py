"""Parquet files `<split>-NNNNNN.parquet`: one row per figure (or panel), image bytes optional.

Columns: `key`, the record's fields (nested lists and structs typed, e.g. `citances` is
list<struct<text, section, panels: list<string>>>), `text`, and `image` (JPEG bytes, null without
images). Text columns are zstd-compressed; the image column is stored as is (JPEG does not compress),
without dictionary or statistics.
Rows are buffered into row groups of at most `ROW_GROUP_ROWS` rows or `ROW_GROUP_BYTES` bytes.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from store.exporters.samples import Sample
from store.exporters.schema import FIGURE_SCHEMA, PANEL_SCHEMA, hf_schema_metadata
from store.exporters.writer import ExportFile, FormatWriter

ROW_GROUP_ROWS = 1000
ROW_GROUP_BYTES = 16 * 2**20  # ≈ 180 figures of 90 kB: bounded memory per open split

_DICTIONARY = ["pmcid", "doi", "title", "journal", "license", "figure_id", "label", "figure_label", "modality",
               "image_source", "method"]
_STATISTICS = {"key", "pmcid", "version", "pmid", "year", "license", "retracted", "width", "height", "panel",
               "score", "modality"}


class _File:
    def __init__(self, path: Path, part: Path, schema: pa.Schema):
        self.path = path
        self.part = part
        compression = {name: ("NONE" if name == "image" else "ZSTD") for name in schema.names}
        # No dictionary or min/max statistics for the image bytes: both would hash or compare every
        # JPEG (most of the write time) for nothing; the small columns keep them.
        self.writer = pq.ParquetWriter(
            part, schema, compression=compression, use_dictionary=_DICTIONARY,
            write_statistics=[name for name in schema.names if name in _STATISTICS],
        )
        self.schema = schema
        # pyarrow writes a row group without the GIL: one thread writes it while the next is gathered
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self.pending: Future | None = None
        self.rows: list[dict] = []
        self.buffered = 0
        self.records = 0
        self.written = 0  # bytes of the row groups already flushed (estimated from the input)

    def add(self, row: dict, size: int) -> None:
        self.rows.append(row)
        self.buffered += size
        self.records += 1
        if len(self.rows) >= ROW_GROUP_ROWS or self.buffered >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            table = pa.Table.from_pylist(self.rows, schema=self.schema)
            self.wait()
            self.pending = self.background.submit(self.writer.write_table, table)
            self.written += self.buffered
            self.rows, self.buffered = [], 0

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # a write error surfaces here

    @property
    def size(self) -> int:
        return self.written + self.buffered

    def close(self) -> None:
        self.flush()
        self.wait()
        self.background.shutdown()
        self.writer.close()

    def discard(self) -> None:
        try:
            self.wait()
        except Exception:  # noqa: BLE001 - the file is removed anyway
            pass
        self.background.shutdown()
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001
            pass


class ParquetWriter(FormatWriter):
    format = "parquet"

    def __init__(self, *args, level: str = "figure", **kwargs):
        super().__init__(*args, **kwargs)
        self.schema = hf_schema_metadata(PANEL_SCHEMA if level == "subfigure" else FIGURE_SCHEMA)
        self.open: dict[str, _File] = {}
        self.next_index: dict[str, int] = {}

    def write(self, sample: Sample) -> int:
        image = sample.image_bytes() if self.with_images else None
        row = dict(sample.record)
        row.update(key=sample.key, text=sample.text, image=image)
        size = len(image or b"") + len(sample.text) + 512  # rough: the record's other columns
        current = self.open.get(sample.split)
        if current is not None and self.shard_size.full(current.records, current.size, size):
            self._finish(sample.split)
            current = None
        if current is None:
            index = self.next_index.get(sample.split, 0)
            self.next_index[sample.split] = index + 1
            path = self.layout.shard(sample.split, index, "parquet")
            current = self.open[sample.split] = _File(path, self.parts.part(path), self.schema)
        current.add(row, size)
        return size

    def _finish(self, split: str) -> None:
        current = self.open.pop(split)
        current.close()
        self._done(current.path, current.records, split, "shard")

    def close(self) -> list[ExportFile]:
        for split in list(self.open):
            self._finish(split)
        return self.files

    def abort(self) -> None:
        for current in self.open.values():
            current.discard()
        self.open.clear()
        super().abort()
