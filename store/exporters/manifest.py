"""`manifest.json`: everything needed to reproduce an export and to check it is complete.

Written last, atomically: a folder with a manifest holds a finished export. Keys: figmine_version,
created_at / finished_at (UTC, ISO 8601), export_id, format, level, query (the FigureFilter's fields),
seed, splits ([[name, fraction], …] in rule order), split_rule, dedup, shard_size, with_images, order, counts (records
per split, articles per split, duplicates removed, records skipped) and files (path, bytes, records,
split, kind). Serialised with sorted keys, so equal exports give equal counts byte for byte.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from figmine import __version__
from store.exporters.writer import ExportFile

SPLIT_RULE = (
    "per article: u = first 8 bytes of sha256('<seed>:<article_key>') / 2**64; "
    "the first split (in the listed order) whose cumulative fraction exceeds u"
)


def build_manifest(spec, *, export_id: int | None, created_at: datetime, finished_at: datetime,
                   counts: dict, files: list[ExportFile]) -> dict:
    order = "article_key, figure ordinal" + (", panel ordinal" if spec.level == "subfigure" else "")
    return {
        "figmine_version": __version__,
        "created_at": created_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "export_id": export_id,
        "format": spec.format,
        "level": spec.level,
        "query": asdict(spec.filter),
        "seed": spec.seed,
        "splits": spec.splits.to_list(),
        "split_rule": SPLIT_RULE,
        "dedup": spec.dedup.to_dict() if spec.dedup else None,
        "shard_size": spec.shard_size.to_dict(),
        "with_images": spec.with_images,
        "order": order,
        "counts": counts,
        "files": [f.to_dict() for f in files],
    }


def write_manifest(path: Path, manifest: dict) -> int:
    """Write atomically; return the size in bytes."""
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)
    return len(data)


def read_manifest(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
