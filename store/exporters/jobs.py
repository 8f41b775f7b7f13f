"""Export jobs: the `exports` row's life (queued → running → finished | failed | interrupted).

The API creates a job with `create_export_job` (its parameters are checked there, so a bad request
fails before anything is queued) and runs `execute_export_job(export_id)` in a background thread or
process; `figmine export` calls `run_export` directly. Each update is its own short transaction, so
readers of the row see progress while the export runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import update

from store.blobs import BlobStore
from store.exporters.engine import ExportResult, ExportSpec, run_export
from store.exporters.writer import ExportError
from store.filters import FigureFilter
from store.models import Export

log = logging.getLogger(__name__)


class JobRecorder:
    def __init__(self, session_factory, export_id: int):
        self.session_factory = session_factory
        self.export_id = export_id

    def _update(self, **values) -> None:
        with self.session_factory() as session:
            session.execute(update(Export).where(Export.id == self.export_id).values(**values))
            session.commit()

    def start(self, total: int, location: str) -> None:
        self._update(status="running", total=total, done=0, location=location, error=None, finished_at=None)

    def progress(self, done: int, counts: dict) -> None:
        self._update(done=done, counts=counts)

    def finish(self, done: int, counts: dict, files: list[dict]) -> None:
        self._update(status="finished", done=done, counts=counts, files=files,
                     finished_at=datetime.now(timezone.utc))

    def fail(self, error: str, *, status: str = "failed") -> None:
        try:
            self._update(status=status, error=error, files=[], finished_at=datetime.now(timezone.utc))
        except Exception:  # noqa: BLE001 - the export's own error matters more than this one
            log.exception("cannot record the failure of export %s", self.export_id)


def default_exports_root() -> Path:
    from figmine.settings import get_settings

    return (get_settings().home / "exports").expanduser().resolve()


def create_export_job(
    session_factory,
    *,
    format: str,
    level: str = "figure",
    filter: FigureFilter | dict | None = None,
    seed: int = 0,
    splits=None,
    dedup=None,
    shard_size=None,
    with_images: bool = True,
    location: Path | str | None = None,
) -> int:
    """Check the parameters (ExportError if unusable) and insert a queued `exports` row; return its id.

    `location`: the folder to write; by default `$FIGMINE_HOME/exports/<id>`.
    """
    spec = ExportSpec.build(format=format, level=level, filter=filter, seed=seed, splits=splits, dedup=dedup,
                            shard_size=shard_size, with_images=with_images)
    with session_factory() as session:
        row = Export(format=spec.format, level=spec.level, params=spec.to_params(), status="queued",
                     location=str(location) if location is not None else None)
        session.add(row)
        session.flush()
        if row.location is None:
            row.location = str(default_exports_root() / str(row.id))
        session.commit()
        return row.id


def execute_export_job(
    export_id: int,
    *,
    session_factory=None,
    blobs: BlobStore | None = None,
    on_progress=None,
    progress_every: int = 500,
) -> ExportResult | None:
    """Run a queued job; the row records progress and the outcome. Returns None when it failed (the row
    says why) or when the job was not queued (already claimed by another worker, or finished)."""
    if session_factory is None:
        from store.db import session_factory as default_factory

        session_factory = default_factory()
    if blobs is None:
        from figmine.settings import get_settings
        from store.blobs import open_blob_store

        blobs = open_blob_store(get_settings().blob_location)
    with session_factory() as session:
        # claim the job atomically, so two workers never run the same export
        claimed = session.execute(
            update(Export).where(Export.id == export_id, Export.status == "queued")
            .values(status="running").returning(Export.format, Export.level, Export.params, Export.location)
        ).first()
        session.commit()
    if claimed is None:
        log.warning("export %s is not queued; not running it", export_id)
        return None
    fmt, level, params, location = claimed
    recorder = JobRecorder(session_factory, export_id)
    try:
        spec = ExportSpec.from_params(fmt, level, params or {})
    except ExportError as exc:
        recorder.fail(f"unusable stored parameters: {exc}")
        return None
    try:
        return run_export(
            session_factory, blobs, out_dir=Path(location or default_exports_root() / str(export_id)),
            format=spec.format, level=spec.level, filter=spec.filter, seed=spec.seed, splits=spec.splits,
            dedup=spec.dedup, shard_size=spec.shard_size, with_images=spec.with_images, export_id=export_id,
            on_progress=on_progress, progress_every=progress_every,
        )
    except ExportError as exc:
        log.warning("export %s failed: %s", export_id, exc)
        return None


def export_file(location: str | Path, files: list[dict], name: str) -> Path:
    """The file of a finished export that a download asks for: one of its `files`, or an image under a
    listed `images/` folder. Anything else (unknown names, '..', links out of the folder) is refused
    with ExportError, so the API can hand the path to its file response as is."""
    root = Path(location).resolve()
    listed = {f["path"] for f in files}
    candidate = name.strip().lstrip("/")
    allowed = candidate in listed or any(
        f["kind"] == "images" and candidate.startswith(f["path"]) and "/" not in candidate[len(f["path"]):]
        for f in files
    )
    path = (root / candidate).resolve()
    if not allowed or not path.is_relative_to(root) or not path.is_file():
        raise ExportError(f"no file {name!r} in this export")
    return path
