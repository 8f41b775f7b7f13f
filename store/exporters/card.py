"""What a folder export writes beside its data so the tools people train with load it as it is.

- `README.md`, a Hugging Face dataset card: its YAML names the data files of each split (`configs`)
  and the type of every field (`dataset_info.features`, from `store.exporters.schema`), so
  `datasets.load_dataset("<export folder>")` loads any layout with its splits and typed records, never
  inferring `null` from the first rows; the text says what the export holds and how to load it.
- `sizes.json` beside WebDataset shards: `{shard: samples}`, which open_clip's `get_dataset_size`
  reads (no `--train-num-samples` to guess).

A single-file export (`figures.jsonl`, `clip.csv`) gets neither (its folder may hold other things),
nor does an export without data files.
"""

from __future__ import annotations

import json

import pyarrow as pa
import yaml

from store.exporters.schema import FIGURE_SCHEMA, PANEL_SCHEMA, record_schema, yaml_features
from store.exporters.writer import ExportFile, Layout

__all__ = ["write_extras"]

_LOADER = {"webdataset": "webdataset", "parquet": "parquet", "jsonl": "json", "csv": "csv"}


def features(fmt: str, level: str) -> tuple[pa.Schema, tuple[str, ...]]:
    """The schema a loader sees for one export format, and which of its fields are images."""
    if fmt == "webdataset":
        return pa.schema([("__key__", pa.string()), ("__url__", pa.string()), ("jpg", pa.binary()),
                          ("json", pa.struct(list(record_schema(level)))), ("txt", pa.string())]), ("jpg",)
    if fmt == "parquet":
        return (PANEL_SCHEMA if level == "subfigure" else FIGURE_SCHEMA), ("image",)
    if fmt == "csv":
        return pa.schema([("filepath", pa.string()), ("title", pa.string())]), ()
    return record_schema(level), ()


def write_extras(layout: Layout, fmt: str, level: str, files: list[ExportFile], parts) -> list[ExportFile]:
    """Write the card (and sizes.json for WebDataset); return them as export files."""
    shards = [f for f in files if f.kind in ("shard", "data")]
    if layout.single_file or not shards:
        return []
    out: list[ExportFile] = []
    if fmt == "webdataset":
        sizes = {f.path: f.records for f in shards}
        out.append(_write(layout, "sizes.json", json.dumps(sizes, indent=1, sort_keys=True) + "\n", parts, "sizes"))
    out.append(_write(layout, "README.md", card(fmt, level, shards), parts, "card"))
    return out


def card(fmt: str, level: str, shards: list[ExportFile]) -> str:
    by_split: dict[str, list[str]] = {}
    for f in shards:
        by_split.setdefault(_hf_split(f.split), []).append(f.path)
    schema, images = features(fmt, level)
    meta = {
        "license": "other",
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": paths} for s, paths in by_split.items()]}],
        "dataset_info": {"features": yaml_features(schema, images=images)},
    }
    counts = ", ".join(f"{s} {sum(f.records for f in shards if _hf_split(f.split) == s)}" for s in by_split)
    unit = "panel" if level == "subfigure" else "figure"
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"""---
{front}---

# figmine export ({fmt}, one record per {unit})

Figures of PubMed Central Open Access articles with their captions, citing sentences, concepts and
modalities, exported by figmine. Records per split: {counts}. `manifest.json` gives the query, the
seed, the split rule and every file with its size.

Load it with Hugging Face `datasets` (the card above types every field):

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder")  # or: load_dataset("{_LOADER[fmt]}", data_files=...)
```

**Licences differ per record.** Each record carries its article's `license`; CC BY and the other
Creative Commons licences require attribution (the record's authors, title, journal and DOI) and some
forbid commercial use. Filter by `license` before you redistribute or train a commercial model.
"""


def _hf_split(split: str | None) -> str:
    """`datasets` reserves "all" (the union of the splits): an unsplit export is its "train" split."""
    return "train" if split in (None, "all") else split


def _write(layout: Layout, name: str, text: str, parts, kind: str) -> ExportFile:
    path = layout.root / name
    data = text.encode()
    part = parts.part(path)
    part.write_bytes(data)
    parts.commit(path)
    return ExportFile(layout.relative(path), len(data), 0, None, kind)
