"""The `figmine` command line."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
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
runs_app = typer.Typer(help="Harvest and ingest runs, and each article's outcome.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")
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
    """Every command that uses the database comes here first: the schema at head, and runs of this
    machine whose process was killed marked `interrupted` (their temporary files removed)."""
    from pipeline.runner import mark_interrupted_runs
    from store.db import database_url, session_factory
    from store.migrate import upgrade

    upgrade(database_url())
    for run_id in mark_interrupted_runs(session_factory()):
        console.print(f"[yellow]run {run_id}: its process is gone, marked interrupted[/yellow]")


def _run_with_progress(run, total: int | None, title: str):
    """`run(on_progress)` → RunSummary, shown with a progress bar, then its summary table."""
    with progress_bar(title, total) as (progress, task):
        def on_progress(summary, total_now):
            progress.update(
                task,
                completed=summary.processed,
                total=total_now,
                detail=f"ok {summary.ok} · partial {summary.partial} · replaced {summary.replaced} · "
                       f"skipped {summary.skipped} · conflict {summary.conflict} · failed {summary.failed} · "
                       f"figures {summary.figures}",
            )
        summary = run(on_progress)
    _print_summary(summary)
    return summary


@contextmanager
def _stage_progress(name: str, total: int):
    """A progress bar for a later stage (pipeline.later_stages); its summary printed at the end."""
    last: list = []
    with progress_bar(name, total) as (progress, task):
        def update(summary) -> None:
            last[:] = [summary]
            if name == "detect":
                progress.update(task, completed=summary.figures,
                                detail=f"panels {summary.panels} · compound {summary.compound} · "
                                       f"aligned {summary.aligned} · errors {summary.errors}")
            else:
                progress.update(task, completed=summary.figures + summary.skipped,
                                detail=f"mentions {summary.mentions} · panels {summary.panels} · "
                                       f"panel citances {summary.citance_links} · errors {summary.errors}")
        yield update
    if not last:
        return
    s = last[0]
    if name == "detect":
        console.print(f"detected {s.panels} panels in {s.figures} figures ({s.compound} compound, "
                      f"{s.aligned} subcaptions aligned, {s.errors} errors)")
        return
    console.print(f"annotated {s.figures} figures: {s.mentions} concept mentions, {s.panels} panel "
                  f"modalities, {s.citance_links} panel citances, {s.errors} errors")
    for figure_id, reason in s.failures[:5]:
        console.print(f"[red]figure {figure_id}[/red]: {reason}")


_OUTCOME_COLOURS = {"ok": "green", "partial": "yellow", "replaced": "cyan", "skipped": "white",
                    "conflict": "magenta", "failed": "red", "queued": "white"}


def _print_summary(summary) -> None:
    table = Table(title=f"run {summary.run_id} ({summary.status})", show_header=False)
    for name, value in [
        ("stored", summary.ok), ("stored, something missing (partial)", summary.partial),
        ("stored over another copy (replaced)", summary.replaced), ("skipped", summary.skipped),
        ("not stored: a copy that ranks higher is (conflict)", summary.conflict), ("failed", summary.failed),
        ("articles in the store from this run", "–" if summary.articles is None else summary.articles),
        ("their figures", summary.figures), ("seconds", f"{summary.seconds:.1f}"),
        ("articles/s", f"{summary.processed / summary.seconds:.1f}" if summary.seconds else "–"),
    ]:
        table.add_row(name, str(value))
    console.print(table)
    for outcome in summary.failures[:20]:
        colour = _OUTCOME_COLOURS[outcome.status]
        console.print(f"[{colour}]{outcome.status}[/{colour}] {escape(outcome.name)}: {escape(outcome.reason or '')}")
    if len(summary.failures) > 20:
        console.print(f"… and {len(summary.failures) - 20} more: figmine runs show {summary.run_id}")
    if summary.exit_code:
        console.print(f"exit status {summary.exit_code}: {_EXIT_MEANING[summary.exit_code]}")


_EXIT_MEANING = {1: "the run itself failed or was interrupted", 3: "some articles are partial",
                 4: "some articles failed"}


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
    """Harvest from PMC's cloud bucket (Europe PMC as a second source). Exit status: 0 every article
    stored or skipped, 3 some partial, 4 some failed, 1 the run itself failed."""
    from pydantic import ValidationError

    from figmine.settings import get_settings
    from pipeline.harvest import Harvest, HarvestOptions, HarvestPlanError
    from store.db import session_factory

    # `--pmcid A B C`: click hands B and C over as extra arguments; they belong to the last id flag
    extra = list(ctx.args)
    if extra and not (pmcid or pmid or doi):
        raise typer.BadParameter(f"unexpected arguments: {' '.join(extra)}")
    try:
        options = HarvestOptions(
            pmcid=_split_ids(pmcid, extra if pmcid else None),
            pmid=_split_ids(pmid, extra if pmid and not pmcid else None),
            doi=_split_ids(doi, extra if doi and not (pmcid or pmid) else None),
            query=query, since=since, limit=limit, license=license, concurrency=concurrency, detect=detect,
            concepts=concepts)
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                           for e in exc.errors())) from exc
    _ensure_schema()
    try:
        job = Harvest(options, settings=get_settings(), sessions=session_factory(), via="cli")
    except HarvestPlanError as exc:
        raise typer.BadParameter(str(exc)) from exc
    def dispatched(sent: int) -> None:
        console.print(f"harvest run {job.run_id}: {sent} articles sent to the workers (Ctrl-C stops waiting, not them)")

    summary = _run_with_progress(
        lambda on_progress: job.run(on_progress=on_progress, on_dispatched=dispatched, progress=_stage_progress),
        job.plan.total, "harvest")
    raise typer.Exit(summary.exit_code)


# -- ingest -----------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders (bucket layout), .tar.gz OA packages, .nxml/.xml.")],
    license: Annotated[str, typer.Option(help="commercial | noncommercial | any")] = "any",
    concurrency: Annotated[Optional[int], typer.Option(help="Parallel workers.")] = None,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Split new figures into panels.")] = True,
    concepts: Annotated[bool, typer.Option("--concepts/--no-concepts", help="Tag concepts and panel modalities.")] = True,
) -> None:
    """Ingest local files: a bucket-layout mirror, legacy OA packages or bare JATS files. Exit status:
    0 every article stored or skipped, 3 some partial, 4 some failed, 1 the run itself failed."""
    from figmine.settings import get_settings
    from harvester.records import SourceError
    from harvester.sources.local import iter_local_bundles
    from pipeline.later_stages import run_later_stages
    from pipeline.runner import HarvestRunner, WorkItem
    from store.blobs import open_blob_store
    from store.db import session_factory

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    _ensure_schema()
    settings, sessions = get_settings(), session_factory()
    runner = HarvestRunner.from_settings(settings, sessions, license_filter=license, concurrency=concurrency)
    params = {"command": "ingest", "paths": [str(p) for p in paths], "license": license}
    run_id = runner.start_run(params)  # packages are extracted into the run's work folder

    def items():
        for entry in iter_local_bundles(list(paths), runner.workdir / "inputs"):
            if isinstance(entry, SourceError):
                yield WorkItem(name=entry.origin or entry.pmcid or str(entry), fetch=_raiser(entry))
            else:
                yield WorkItem(name=entry.origin or str(entry.xml_path), fetch=_constant(entry))

    summary = _run_with_progress(
        lambda on_progress: runner.run(items(), params, on_progress=on_progress, run_id=run_id), None, "ingest")
    run_later_stages(sessions, open_blob_store(settings.blob_location), detect=detect, concepts=concepts,
                     progress=_stage_progress)
    raise typer.Exit(summary.exit_code)


def _raiser(error: Exception):
    def fetch(_: Path):
        raise error
    return fetch


def _constant(bundle):
    return lambda _: bundle


# -- runs ---------------------------------------------------------------------------------------
@runs_app.callback()
def runs(ctx: typer.Context,
         limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N runs.")] = 20,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List runs, newest first: status, what each outcome counted, when."""
    if ctx.invoked_subcommand is not None:
        return
    from store.db import session_scope
    from store.runs import list_runs

    _ensure_schema()
    with session_scope() as session:
        rows = list_runs(session, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title="runs")
    for column in ("id", "status", "command", "started", "seconds", "ok", "partial", "replaced", "skipped",
                   "conflict", "failed", "articles", "figures"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["status"], r["command"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                      f"{r['seconds']:.1f}" if r["seconds"] is not None else "–",
                      *(str(r["counts"].get(s, 0)) for s in ("ok", "partial", "replaced", "skipped", "conflict",
                                                              "failed")), str(r["articles"]), str(r["figures"]))
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="The run's id (figmine runs).")],
    status: Annotated[Optional[list[str]], typer.Option("--status", help="Only these outcomes (ok, partial, replaced, skipped, conflict, failed).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines, one per article.")] = False,
) -> None:
    """One run: each article's outcome, identity, origin and reason."""
    from store.db import session_scope
    from store.runs import run_items

    _ensure_schema()
    with session_scope() as session:
        found = run_items(session, run_id, statuses=_split_ids(status) or None)
    if found is None:
        console.print(f"[red]no run {run_id}[/red]")
        raise typer.Exit(1)
    run, items = found
    if as_json:
        for item in items:
            typer.echo(json.dumps(item, default=str))
        return
    console.print(f"run {run['id']} ({run['status']}): {run['command']} {escape(json.dumps(run['params']))}")
    if run["error"]:
        console.print(f"[red]{escape(run['error'])}[/red]")
    for item in items:
        colour = _OUTCOME_COLOURS.get(item["status"], "white")
        line = f"[{colour}]{item['status']:9}[/{colour}] {escape(item['item'])}"
        if item["article_key"] and item["article_key"] not in item["item"]:
            line += f" → {escape(item['article_key'])}"
        if item["n_figures"]:
            line += f" ({item['n_figures']} figures)"
        if item["reason"]:
            line += f": {escape(item['reason'])}"
        console.print(line, highlight=False, soft_wrap=True)


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
    gold: Annotated[list[Path], typer.Option("--gold", help="Gold file(s) in the gold-dev format, or folders of gold*.json.")],
    images: Annotated[Optional[Path], typer.Option("--images", help="Image folder (default: beside the gold file).")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Weights folder (default: shipped).")] = None,
    method: Annotated[str, typer.Option("--method", help="auto | yolo | xycut")] = "auto",
    backend: Annotated[str, typer.Option("--backend", help="auto | onnx | torch")] = "auto",
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Write the full report here.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Per-figure lines.")] = False,
    halves: Annotated[bool, typer.Option("--halves", help="Also score the tuning and held-out halves (by image-name hash).")] = False,
    split: Annotated[Optional[str], typer.Option("--split", help="Score only dev or test figures (gold-v2 split by article hash).")] = None,
) -> None:
    """Score the detector on real figures: ImageCLEF accuracy, mAP@0.5, mAP@0.5:0.95, panel count, labels."""
    from subfigure_detector.evaluate import eval_command

    eval_command(gold, images_dir=images, weights_dir=weights, backend=backend, method=method, verbose=verbose,
                 json_out=json_out, halves=halves, split=split)


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



def export_summary(result) -> str:
    """What was written, what was read, and why the rest was left out (never "131 of 131" when 10
    were written)."""
    c = result.counts
    left_out = [f"{n} {why.replace('_', ' ')}" for why, n in c["skipped"].items() if n]
    left_out += [f"{n} duplicates ({method})" for method, n in c["duplicates"].items() if n]
    return (f"exported {c['records']} records (of {result.done} read) to {result.out} ({result.manifest.name}); "
            f"left out: {', '.join(left_out) or 'none'}: {json.dumps(c)}")


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
    console.print(export_summary(result))
