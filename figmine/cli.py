"""The `figmine` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from figmine.progress import console, progress_bar

app = typer.Typer(help="figmine: mine PubMed Central Open Access for a panel-level image–text corpus.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
apikey_app = typer.Typer(help="API keys for the write endpoints (harvests, exports).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
detector_app = typer.Typer(help="Subfigure detector: synthetic data, training, evaluation.", no_args_is_help=True)
app.add_typer(detector_app, name="detector")
# argparse-based tools keep their own options and --help
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from figmine.disk_full import report_disk_full

    report_disk_full()  # a full disk ends any command with one line, not a traceback


def _split_ids(values: list[str] | None, extra: list[str] | None = None) -> list[str]:
    """`--pmcid A B,C --pmcid D` → [A, B, C, D] (several per option, commas or spaces)."""
    out: list[str] = []
    for value in (values or []) + (extra or []):
        out.extend(v for v in value.replace(",", " ").split() if v)
    return out


# -- db ---------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    from store.db import database_url, describe
    from store.migrate import current_revision, upgrade

    url = database_url()
    upgrade(url, revision)
    console.print(f"database {describe(url)} at revision {current_revision(url)}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL figmine uses (starting the embedded server if needed)."""
    from store.db import database_url, describe

    typer.echo(describe(database_url()))


def _ensure_schema() -> None:
    from store.db import database_url
    from store.migrate import upgrade

    upgrade(database_url())


def _runner(license_filter: str, concurrency: int | None):
    from figmine.settings import get_settings
    from pipeline.runner import HarvestRunner
    from store.db import session_factory

    return HarvestRunner.from_settings(get_settings(), session_factory(), license_filter=license_filter,
                                       concurrency=concurrency)


def _run_with_progress(run, total: int | None, title: str):
    """`run(on_progress)` → RunSummary, shown with a progress bar, then its summary table."""
    with progress_bar(title, total) as (progress, task):
        def on_progress(summary, total_now):
            progress.update(
                task,
                completed=summary.ok + summary.partial + summary.skipped + summary.failed,
                total=total_now,
                detail=f"ok {summary.ok} · partial {summary.partial} · skipped {summary.skipped} · "
                       f"failed {summary.failed} · figures {summary.figures}",
            )
        summary = run(on_progress)
    _print_summary(summary)
    return summary


def _harvest(runner, refs, params: dict, total: int | None, license_filter: str, detect: bool, concepts: bool):
    """On a local process pool; with FIGMINE_BROKER_URL on the Celery workers, followed until done."""
    from figmine.settings import get_settings

    if not get_settings().broker_url:
        from workers.local_pool import harvest_on_pool

        return _run_with_progress(
            lambda on_progress: harvest_on_pool(runner, refs, params, license_filter=license_filter, total=total,
                                                on_progress=on_progress),
            total, "harvest")
    from workers.celery_app import dispatch_harvest
    from workers.progress import later_stages, wait_for_run
    from workers.stages import fail_run

    run_id = runner.start_run(params)
    try:
        sent = dispatch_harvest(run_id, refs, license_filter=license_filter, follow=later_stages(detect, concepts))
    except BaseException as exc:
        fail_run(run_id, f"{type(exc).__name__}: {exc}")
        raise
    console.print(f"harvest run {run_id}: {sent} articles sent to the workers (Ctrl-C stops waiting, not them)")
    return _run_with_progress(lambda on_progress: wait_for_run(runner.sessions, run_id, on_progress=on_progress),
                              sent, "harvest")


def _detect_stage(enabled: bool) -> None:
    """Split newly stored figures into panels and align them with their subcaptions."""
    if not enabled:
        return
    from sqlalchemy import func, select

    from figmine.settings import get_settings
    from pipeline.detect_stage import detect_pending
    from store.blobs import open_blob_store
    from store.db import session_factory
    from store.models import Figure
    from subfigure_detector.detect import Detector

    sessions = session_factory()
    with sessions() as session:
        pending = session.scalar(
            select(func.count()).where(Figure.image_key.is_not(None), Figure.detected_at.is_(None))
        )
    if not pending:
        return
    blobs = open_blob_store(get_settings().blob_location)
    with progress_bar("detect", pending) as (progress, task):
        summary = detect_pending(
            sessions, blobs, Detector(),
            on_progress=lambda s: progress.update(task, completed=s.figures,
                                                  detail=f"panels {s.panels} · compound {s.compound} · "
                                                         f"aligned {s.aligned} · errors {s.errors}"),
        )
    console.print(f"detected {summary.panels} panels in {summary.figures} figures "
                  f"({summary.compound} compound, {summary.aligned} subcaptions aligned, {summary.errors} errors)")


def _caption_stage(enabled: bool) -> None:
    """Tag concepts, tie citances to panels and give each panel a modality (pipeline.caption_stage)."""
    if not enabled:
        return
    from sqlalchemy import func, select

    from figmine.settings import get_settings
    from pipeline.caption_stage import annotate_pending, pending_condition
    from store.blobs import open_blob_store
    from store.db import session_factory

    sessions = session_factory()
    with sessions() as session:
        pending = session.scalar(select(func.count()).where(pending_condition()))
    if not pending:
        return
    blobs = open_blob_store(get_settings().blob_location)
    with progress_bar("captions", pending) as (progress, task):
        summary = annotate_pending(
            sessions, blobs,
            on_progress=lambda s: progress.update(task, completed=s.figures + s.skipped,
                                                  detail=f"mentions {s.mentions} · panels {s.panels} · "
                                                         f"panel citances {s.citance_links} · errors {s.errors}"),
        )
    console.print(f"annotated {summary.figures} figures: {summary.mentions} concept mentions, {summary.panels} "
                  f"panel modalities, {summary.citance_links} panel citances, {summary.errors} errors")
    for figure_id, reason in summary.failures[:5]:
        console.print(f"[red]figure {figure_id}[/red]: {reason}")


def _print_summary(summary) -> None:
    table = Table(title=f"harvest run {summary.run_id}", show_header=False)
    for name, value in [
        ("stored", summary.ok), ("stored with image errors", summary.partial), ("skipped", summary.skipped),
        ("failed", summary.failed), ("figures stored", summary.figures),
        ("seconds", f"{summary.seconds:.1f}"),
        ("articles/s", f"{(summary.done + summary.skipped + summary.failed) / summary.seconds:.1f}" if summary.seconds else "–"),
    ]:
        table.add_row(name, str(value))
    console.print(table)
    for failure in summary.failures[:20]:
        console.print(f"[red]failed[/red] {failure.name}: {failure.reason}")
    if len(summary.failures) > 20:
        console.print(f"… and {len(summary.failures) - 20} more (see harvest_items for run {summary.run_id})")


# -- harvest ----------------------------------------------------------------------------------
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def harvest(
    ctx: typer.Context,
    pmcid: Annotated[Optional[list[str]], typer.Option("--pmcid", help="PMCIDs (several after one flag, or repeat it).")] = None,
    pmid: Annotated[Optional[list[str]], typer.Option("--pmid", help="PMIDs, converted with the PMC ID converter.")] = None,
    doi: Annotated[Optional[list[str]], typer.Option("--doi", help="DOIs, converted with the PMC ID converter.")] = None,
    query: Annotated[Optional[str], typer.Option("--query", help="E-utilities search on PMC (open access only).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Articles changed since DATE (YYYY-MM-DD), from the bucket inventory.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="At most N articles.")] = None,
    license: Annotated[str, typer.Option("--license", help="commercial | noncommercial | any")] = "any",
    concurrency: Annotated[Optional[int], typer.Option(help="Articles fetched in parallel.")] = None,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Split new figures into panels.")] = True,
    concepts: Annotated[bool, typer.Option("--concepts/--no-concepts", help="Tag concepts and panel modalities.")] = True,
) -> None:
    """Harvest from PMC's cloud bucket (Europe PMC as a second source)."""
    from datetime import date

    from figmine.settings import get_settings
    from harvester.discovery import discover
    from pipeline.harvest import RemoteFetcher
    from store.db import session_factory

    # `--pmcid A B C`: click hands B and C over as extra arguments; they belong to the last id flag
    extra = list(ctx.args)
    if extra and not (pmcid or pmid or doi):
        raise typer.BadParameter(f"unexpected arguments: {' '.join(extra)}")
    ids = _split_ids(pmcid, extra if pmcid else None) + _split_ids(pmid, extra if pmid and not pmcid else None)
    ids += _split_ids(doi, extra if doi and not (pmcid or pmid) else None)
    if not ids and not query and not since:
        raise typer.BadParameter("give --pmcid/--pmid/--doi, --query or --since")
    since_date = None
    if since:
        try:
            since_date = date.fromisoformat(since)
        except ValueError as exc:
            raise typer.BadParameter(f"--since wants YYYY-MM-DD, got {since!r}") from exc
    _ensure_schema()
    runner = _runner(license, concurrency)
    settings = get_settings()
    fetcher = RemoteFetcher(session_factory(), license_filter=license, use_europepmc=settings.use_europepmc)
    refs = discover(ids=ids or None, query=query, since=since_date, limit=limit, source=fetcher.s3)
    params = {"command": "harvest", "ids": ids, "query": query, "since": since, "limit": limit, "license": license}
    total = min(len(ids), limit or len(ids)) if ids and not query and not since else None
    summary = _harvest(runner, refs, params, total, license, detect, concepts)
    _detect_stage(detect and not settings.broker_url)  # with a broker, the workers' detect queue does it
    _caption_stage(concepts and not settings.broker_url)  # … and their captions queue this
    raise typer.Exit(1 if summary.failed and not (summary.done or summary.skipped) else 0)


# -- ingest -----------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders (bucket layout), .tar.gz OA packages, .nxml/.xml.")],
    license: Annotated[str, typer.Option(help="commercial | noncommercial | any")] = "any",
    concurrency: Annotated[Optional[int], typer.Option(help="Parallel workers.")] = None,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Split new figures into panels.")] = True,
    concepts: Annotated[bool, typer.Option("--concepts/--no-concepts", help="Tag concepts and panel modalities.")] = True,
) -> None:
    """Ingest local files: a bucket-layout mirror, legacy OA packages or bare JATS files."""
    import tempfile

    from harvester.records import SourceError
    from harvester.sources.local import iter_local_bundles
    from pipeline.runner import WorkItem

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    _ensure_schema()
    runner = _runner(license, concurrency)
    with tempfile.TemporaryDirectory(prefix="figmine-ingest-") as tmp:
        def items():
            for entry in iter_local_bundles(list(paths), Path(tmp)):
                if isinstance(entry, SourceError):
                    name = entry.origin or entry.pmcid or str(entry)
                    yield WorkItem(name=name, fetch=_raiser(entry))
                else:
                    yield WorkItem(name=entry.pmcid or entry.origin or str(entry.xml_path), fetch=_constant(entry))

        params = {"command": "ingest", "paths": [str(p) for p in paths], "license": license}
        summary = _run_with_progress(lambda on_progress: runner.run(items(), params, on_progress=on_progress),
                                     None, "ingest")
    _detect_stage(detect)
    _caption_stage(concepts)
    raise typer.Exit(0 if summary.done + summary.skipped > 0 or summary.failed == 0 else 1)


def _raiser(error: Exception):
    def fetch(_: Path):
        raise error
    return fetch


def _constant(bundle):
    return lambda _: bundle


# -- api ----------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
) -> None:
    """Serve the REST API (queries, images, harvest and export jobs)."""
    from api.app import serve as run_server

    _ensure_schema()
    run_server(host, port, workers=workers)


@app.command()
def worker(
    queues: Annotated[str, typer.Option("--queues", "-Q", help="Comma-separated: harvest, detect, captions.")] = "harvest,detect,captions",
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Worker processes (default: one per core).")] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="debug | info | warning | error")] = "info",
    hostname: Annotated[Optional[str], typer.Option("--hostname", help="Worker name (default celery@HOST).")] = None,
) -> None:
    """Run a Celery worker on the pipeline's queues (needs FIGMINE_BROKER_URL); scale by starting more."""
    from workers.celery_app import start_worker

    names = [q.strip() for q in queues.split(",") if q.strip()]
    try:
        start_worker(names, concurrency=concurrency, loglevel=loglevel.upper(), hostname=hostname)
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@apikey_app.command("create")
def apikey_create(name: Annotated[str, typer.Argument(help="Who or what the key is for.")]) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from api.keys import create_key

    _ensure_schema()
    info, token = create_key(name)
    console.print(f"created key {info.prefix}… for {name!r}; keep it, it is not shown again:")
    typer.echo(token)


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys (prefix, name, created, last used, revoked)."""
    from api.keys import list_keys

    _ensure_schema()
    for info in list_keys():
        state = "revoked" if info.revoked else "active"
        typer.echo(f"{info.id}\t{info.prefix}\t{info.name}\t{info.created_at}\t{info.last_used_at}\t{state}")


@apikey_app.command("revoke")
def apikey_revoke(which: Annotated[str, typer.Argument(help="Prefix, name, id or the key itself.")]) -> None:
    """Revoke keys."""
    from api.keys import revoke_key

    _ensure_schema()
    revoked = revoke_key(which)
    console.print(f"revoked {len(revoked)} key(s)")
    raise typer.Exit(0 if revoked else 1)


# -- captions ---------------------------------------------------------------------------------
@app.command("split-caption")
def split_caption() -> None:
    """JSON lines {"id", "caption"[, "caption_xml"]} on stdin → {"id", "subcaptions": [...]} on stdout."""
    from captions.split_cli import run_stdio

    run_stdio()


# -- detector ---------------------------------------------------------------------------------
@detector_app.command("synth", context_settings=PASS_THROUGH, add_help_option=False)
def detector_synth(ctx: typer.Context) -> None:
    """Generate a synthetic training set from real layouts (see --help)."""
    from subfigure_detector.synth.dataset import main

    main(list(ctx.args))


@detector_app.command("train", context_settings=PASS_THROUGH, add_help_option=False)
def detector_train(ctx: typer.Context) -> None:
    """Train (or resume) the YOLO detector offline and ship its weights (see --help)."""
    from subfigure_detector.train import main

    main(list(ctx.args))


@detector_app.command("eval")
def detector_eval(
    gold: Annotated[list[Path], typer.Option("--gold", help="Gold file(s) in the gold-dev format.")],
    images: Annotated[Optional[Path], typer.Option("--images", help="Image folder (default: beside the gold file).")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Weights folder (default: shipped).")] = None,
    method: Annotated[str, typer.Option("--method", help="auto | yolo | xycut")] = "auto",
    backend: Annotated[str, typer.Option("--backend", help="auto | onnx | torch")] = "auto",
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Write the full report here.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Per-figure lines.")] = False,
    halves: Annotated[bool, typer.Option("--halves", help="Also score the tuning and held-out halves (by image-name hash).")] = False,
) -> None:
    """Score the detector on real figures: ImageCLEF accuracy, mAP@0.5, mAP@0.5:0.95, panel count, labels."""
    from subfigure_detector.evaluate import eval_command

    eval_command(gold, images_dir=images, weights_dir=weights, backend=backend, method=method, verbose=verbose,
                 json_out=json_out, halves=halves)


@app.command()
def detect(
    images: Annotated[list[str], typer.Argument(help="Figure images.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Weights folder (default: shipped).")] = None,
    method: Annotated[str, typer.Option("--method", help="auto | yolo | xycut")] = "auto",
    backend: Annotated[str, typer.Option("--backend", help="auto | onnx | torch")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
) -> None:
    """Split figures into panels and read their labels (boxes in original pixels, reading order)."""
    from subfigure_detector.detect import detect_command

    errors = detect_command(images, as_json=as_json, weights_dir=weights, backend=backend, method=method,
                            batch_size=batch_size)
    raise typer.Exit(1 if errors == len(images) else 0)


# -- stats / export ---------------------------------------------------------------------------
@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Counts of articles, figures, citances, by source, licence, year and journal."""
    from store.db import session_scope
    from store.stats import corpus_stats

    _ensure_schema()
    with session_scope() as session:
        data = corpus_stats(session)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title="figmine corpus", show_header=False)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "–"
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output file (.jsonl/.csv) or folder (shards).")],
    format: Annotated[str, typer.Option("--format", help="webdataset | parquet | jsonl | csv")] = "jsonl",
    level: Annotated[str, typer.Option("--level", help="figure | subfigure")] = "figure",
    pmcid: Annotated[Optional[list[str]], typer.Option("--pmcid", help="Only these articles.")] = None,
    q: Annotated[Optional[str], typer.Option("--q", help="Full-text query over captions, subcaptions, citances.")] = None,
    modality: Annotated[Optional[list[str]], typer.Option("--modality", help="Modality codes (a parent matches its children).")] = None,
    concept: Annotated[Optional[list[str]], typer.Option("--concept", help="Concept id or name.")] = None,
    license: Annotated[Optional[list[str]], typer.Option("--license", help="commercial | noncommercial | licence codes")] = None,
    journal: Annotated[Optional[list[str]], typer.Option("--journal")] = None,
    year_from: Annotated[Optional[int], typer.Option("--year-from")] = None,
    year_to: Annotated[Optional[int], typer.Option("--year-to")] = None,
    min_width: Annotated[Optional[int], typer.Option("--min-width")] = None,
    min_height: Annotated[Optional[int], typer.Option("--min-height")] = None,
    has_citances: Annotated[Optional[bool], typer.Option("--has-citances/--no-citances")] = None,
    compound: Annotated[Optional[bool], typer.Option("--compound/--single")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the article-level split.")] = 0,
    splits: Annotated[Optional[str], typer.Option("--splits", help="e.g. 0.9/0.05/0.05 (train/val/test by article)")] = None,
    dedup: Annotated[Optional[str], typer.Option("--dedup", help="sha256 | phash[:N]")] = None,
    shard_size: Annotated[Optional[str], typer.Option("--shard-size", help='records and/or bytes per shard, e.g. "10000,1GB"')] = None,
    images: Annotated[bool, typer.Option("--images/--no-images", help="Write the images too.")] = True,
) -> None:
    """Export figures or panels with their captions, citances and images (same engine as POST /exports)."""
    from figmine.settings import get_settings
    from harvester.sources.pmc_metadata import normalise_pmcid
    from store.blobs import open_blob_store
    from store.db import session_factory
    from store.exporters import ExportError, run_export
    from store.filters import FigureFilter

    ids = [normalise_pmcid(p) for p in _split_ids(pmcid)]
    flt = FigureFilter(
        q=q, modality=_split_ids(modality), concept=list(concept or []), license=_split_ids(license),
        year_from=year_from, year_to=year_to, journal=list(journal or []), pmcid=ids, compound=compound,
        has_citances=has_citances, min_width=min_width, min_height=min_height,
    )
    _ensure_schema()
    blobs = open_blob_store(get_settings().blob_location)
    with progress_bar("export", None) as (progress, task):
        def on_progress(p) -> None:
            progress.update(task, completed=p.done, total=p.total, detail=f"{p.bytes / 1e6:.1f} MB")

        try:
            result = run_export(
                session_factory(), blobs, out_dir=out, format=format, level=level, filter=flt, seed=seed,
                splits=splits, dedup=dedup, shard_size=shard_size, with_images=images, on_progress=on_progress,
                progress_every=100,
            )
        except ExportError as exc:
            console.print(f"[red]export failed[/red]: {exc}")
            raise typer.Exit(1) from exc
    console.print(f"exported {result.done} of {result.total} records to {result.out} ({result.manifest.name}): "
                  f"{json.dumps(result.counts)}")
