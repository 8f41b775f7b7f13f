"""The export engine shared by `figmine export` and the API: query → samples → splits → dedup → writer.

    rows     store.figure_records.iter_figure_rows: one server-side cursor in (article_key, ordinal)
             order, inside one REPEATABLE READ transaction (the count and the rows see one snapshot)
    samples  store.exporters.samples: blob reads, JPEG conversion and panel crops, in a few threads,
             results kept in input order (store.exporters.prefetch)
    dedup    store.exporters.dedup: first copy in export order kept
    split    store.exporters.splits: by article, from the seed
    writer   one of FORMATS; files written as *.part and renamed when complete
    manifest store.exporters.manifest, written last

Progress goes to `on_progress` and, for a job, to its `exports` row every `progress_every` records.
A failure removes every file the export wrote, marks the row failed with the reason and raises
ExportError.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from figmine.disk_full import as_disk_full
from store.blobs import BlobStore, LocalBlobStore
from store.exporters.card import write_extras
from store.exporters.dedup import Dedup, Deduplicator
from store.exporters.manifest import build_manifest, write_manifest
from store.exporters.prefetch import ordered_map
from store.exporters.samples import Sample, SampleBuilder
from store.exporters.splits import SplitAssigner, Splits
from store.exporters.writer import ExportError, ExportFile, FormatWriter, Layout, ShardSize
from store.figure_records import count_figures, count_panels, iter_figure_rows
from store.filters import FigureFilter

log = logging.getLogger(__name__)

FORMATS: dict[str, tuple[str, str]] = {
    "webdataset": ("store.exporters.webdataset", "WebDatasetWriter"),
    "parquet": ("store.exporters.parquet", "ParquetWriter"),
    "jsonl": ("store.exporters.jsonl", "JsonlWriter"),
    "csv": ("store.exporters.openclip_csv", "OpenClipCsvWriter"),
}
LEVELS = ("figure", "subfigure")


def writer_class(fmt: str) -> type[FormatWriter]:
    try:
        module, name = FORMATS[fmt]
    except KeyError:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}") from None
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ExportSpec:
    """What to export; stored as the `exports` row's format, level and params."""

    format: str
    level: str = "figure"
    filter: FigureFilter = field(default_factory=FigureFilter)
    seed: int = 0
    splits: Splits = field(default_factory=Splits)
    dedup: Dedup | None = None
    shard_size: ShardSize = field(default_factory=ShardSize)
    with_images: bool = True

    def __post_init__(self) -> None:
        cls = writer_class(self.format)
        if self.level not in LEVELS:
            raise ExportError(f"unknown level {self.level!r}: use figure or subfigure")
        if cls.needs_images and not self.with_images:
            raise ExportError(f"{self.format} exports carry images: drop the no-images option or use parquet/jsonl")

    @classmethod
    def build(cls, *, format: str, level: str = "figure", filter: FigureFilter | dict | None = None,
              seed: int = 0, splits=None, dedup=None, shard_size=None, with_images: bool = True) -> "ExportSpec":
        """From loose values (API bodies, CLI options, stored params); raises ExportError on bad ones."""
        if isinstance(filter, dict):
            unknown = set(filter) - set(FigureFilter.__dataclass_fields__)
            if unknown:
                raise ExportError(f"unknown filter fields: {', '.join(sorted(unknown))}")
            filter = FigureFilter(**filter)
        try:
            return cls(
                format=format, level=level, filter=filter or FigureFilter(), seed=int(seed),
                splits=Splits.from_value(splits), dedup=Dedup.from_value(dedup),
                shard_size=ShardSize.from_value(shard_size), with_images=bool(with_images),
            )
        except ValueError as exc:  # SplitError, DedupError
            raise ExportError(str(exc)) from exc

    def to_params(self) -> dict:
        return {
            "filter": asdict(self.filter),
            "seed": self.seed,
            "splits": self.splits.to_list(),
            "dedup": self.dedup.to_dict() if self.dedup else None,
            "shard_size": self.shard_size.to_dict(),
            "with_images": self.with_images,
        }

    @classmethod
    def from_params(cls, format: str, level: str, params: dict) -> "ExportSpec":
        return cls.build(format=format, level=level, filter=params.get("filter") or {}, seed=params.get("seed", 0),
                         splits=params.get("splits"), dedup=params.get("dedup"),
                         shard_size=params.get("shard_size"), with_images=params.get("with_images", True))


@dataclass
class ExportProgress:
    done: int  # source records handled (written, duplicates and skipped)
    total: int
    counts: dict
    bytes: int
    seconds: float


@dataclass
class ExportResult:
    export_id: int | None
    out: Path  # the export folder
    manifest: Path
    files: list[ExportFile]
    counts: dict
    total: int
    done: int
    bytes: int
    seconds: float


class Counts:
    """Records and articles per split, duplicates removed, records skipped."""

    def __init__(self, split_names: list[str]):
        self.splits = {name: {"records": 0, "articles": 0, "images": 0} for name in split_names}
        self._last_article: dict[str, str] = {}
        self.duplicates = {"sha256": 0, "phash": 0}
        self.skipped = {"no_image": 0}

    def written(self, sample: Sample, with_image: bool) -> None:
        split = self.splits[sample.split]
        split["records"] += 1
        split["images"] += int(with_image)
        if self._last_article.get(sample.split) != sample.article_key:  # rows come grouped by article
            self._last_article[sample.split] = sample.article_key
            split["articles"] += 1

    def to_dict(self) -> dict:
        return {
            "records": sum(s["records"] for s in self.splits.values()),
            "splits": {name: dict(values) for name, values in self.splits.items()},
            "duplicates": dict(self.duplicates),
            "skipped": dict(self.skipped),
        }


def run_export(
    session_factory: sessionmaker[Session] | Callable[[], Session],
    blobs: BlobStore,
    *,
    out_dir: Path | str,
    format: str,
    level: str = "figure",
    filter: FigureFilter | dict | None = None,
    seed: int = 0,
    splits=None,
    dedup=None,
    shard_size=None,
    with_images: bool = True,
    export_id: int | None = None,
    on_progress: Callable[[ExportProgress], None] | None = None,
    progress_every: int = 500,
    workers: int | None = None,
) -> ExportResult:
    """Run one export into `out_dir` (a new or empty folder; for jsonl/csv also a `.jsonl`/`.csv` file).

    `splits`: None (one split, "all"), {"train": 0.9, "validation": 0.05, "test": 0.05} or
    "0.9/0.05/0.05"; `dedup`: None, "sha256", "phash", "phash:6" or {"method", "threshold"};
    `shard_size`: records (int), "1GB", "10000,1GB" or {"records", "bytes"}. With `export_id`, the
    `exports` row follows the run (running → finished | failed, done/total/counts/files/error).
    `workers`: threads reading and encoding images; by default 1 for figures in a local blob store
    (reading a cached file costs less than handing it to a thread) and 4 otherwise (S3 latency, crops).
    """
    from store.exporters.jobs import JobRecorder

    recorder = JobRecorder(session_factory, export_id) if export_id is not None else None
    try:
        spec = ExportSpec.build(format=format, level=level, filter=filter, seed=seed, splits=splits, dedup=dedup,
                                shard_size=shard_size, with_images=with_images)
        return _run(spec, session_factory, blobs, Path(out_dir), export_id, recorder, on_progress,
                    max(1, progress_every), workers)
    except ExportError as exc:
        if recorder:
            recorder.fail(str(exc))
        raise


def _run(spec: ExportSpec, session_factory, blobs: BlobStore, out: Path, export_id: int | None, recorder,
         on_progress, progress_every: int, workers: int) -> ExportResult:
    cls = writer_class(spec.format)
    layout = Layout(out, cls.file_suffix)
    created_root = not layout.root.exists()
    created_images = not layout.images.exists()
    layout.prepare()
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    kwargs = {"level": spec.level} if spec.format == "parquet" else {}
    writer = cls(layout, spec.splits.names, spec.shard_size, with_images=spec.with_images, **kwargs)
    counts = Counts(spec.splits.names)
    dedup = Deduplicator(spec.dedup) if spec.dedup else None
    assign = SplitAssigner(spec.seed, spec.splits)
    builder = SampleBuilder(
        blobs, with_images=spec.with_images, need_bytes=cls.needs_bytes,
        panel_phash=spec.dedup is not None and spec.dedup.method == "phash",
    )
    panels = spec.level == "subfigure"
    if workers is None:
        workers = 1 if isinstance(blobs, LocalBlobStore) and not panels else 4
    if panels:
        def build(row):
            return builder.panel_samples(row, hashes=dedup is not None)
    else:
        build = builder.figure_sample
    done = total = written_bytes = 0

    def progress() -> ExportProgress:
        if dedup:
            counts.duplicates.update(dedup.removed)
        return ExportProgress(done, total, counts.to_dict(), written_bytes, time.perf_counter() - clock)

    try:
        with session_factory() as session:
            # one snapshot for the count and the rows, however long the export takes
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            total = count_panels(session, spec.filter) if panels else count_figures(session, spec.filter)
            if recorder:
                recorder.start(total, str(layout.root))
            rows = iter_figure_rows(session, figure_filter=spec.filter, panels=panels)
            with closing(rows), closing(ordered_map(build, rows, workers=workers)) as stream:
                for samples in stream:
                    for sample in samples:
                        done += 1
                        if writer.needs_images and not sample.has_image:
                            counts.skipped["no_image"] += 1
                        elif dedup is None or not dedup.is_duplicate(sample.sha256, sample.phash):
                            sample.split = assign(sample.article_key)
                            written_bytes += writer.write(sample)
                            counts.written(sample, spec.with_images and sample.has_image)
                        if done % progress_every == 0:
                            snapshot = progress()
                            if recorder:  # the row first: a callback that reads it sees the same numbers
                                recorder.progress(snapshot.done, snapshot.counts)
                            if on_progress:
                                on_progress(snapshot)
            session.rollback()  # read only
        files = writer.close()
        files += write_extras(layout, spec.format, spec.level, files, writer.parts)
        final = progress()
        manifest_path = layout.manifest
        manifest = build_manifest(spec, export_id=export_id, created_at=started,
                                  finished_at=datetime.now(timezone.utc), counts=final.counts, files=files)
        size = write_manifest(manifest_path, manifest)
        writer.parts.created_file(manifest_path)
        files = [*files, ExportFile(layout.relative(manifest_path), size, 0, None, "manifest")]
        if recorder:
            recorder.finish(done, final.counts, [f.to_dict() for f in files])
        if on_progress:
            on_progress(final)
    except BaseException as exc:
        exc = as_disk_full(exc, layout.root)  # before abort() frees the space it looks at
        writer.abort()
        layout.manifest.with_name(layout.manifest.name + ".part").unlink(missing_ok=True)
        _remove_empty(layout.images, created_images)
        _remove_empty(layout.root, created_root)
        if isinstance(exc, ExportError):
            raise
        reason = _reason(exc)
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: record, then let it go on
            if recorder:
                recorder.fail(f"interrupted ({reason})", status="interrupted")
            raise
        log.warning("export %s failed after %d of %d records: %s", export_id or out, done, total, reason)
        raise ExportError(f"export failed after {done} of {total} records: {reason}") from exc
    return ExportResult(export_id, layout.root, manifest_path, files, final.counts, total, done, written_bytes,
                        final.seconds)


def _reason(exc: BaseException) -> str:
    """One short line for the exports row: the driver's message, not the SQL and its parameters."""
    original = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError
    text = str(original if original is not None else exc).strip().splitlines()
    name = type(original if original is not None else exc).__name__
    message = f"{name}: {text[0]}" if text else name
    return message if len(message) <= 500 else message[:497] + "..."


def _remove_empty(folder: Path, created: bool) -> None:
    if created:
        try:
            folder.rmdir()
        except OSError:
            pass
