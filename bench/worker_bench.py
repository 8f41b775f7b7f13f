"""Celery worker throughput: N articles from a loopback S3 mirror through real `figmine worker`
processes on the machine's Redis, into a fresh PostgreSQL database, with 1 and 2 worker processes.

The mirror is the real OA articles of tests/fixtures/s3_mirror_src (JATS, JPEG figures, a PDF) under
new PMCIDs, served by moto's S3 server on 127.0.0.1 in this process (the bucket layout of PMC's
Cloud Service). Per configuration: a fresh database, one `figmine worker --queues harvest
--concurrency P` (P pool processes), the run dispatched in groups of `--group-size` and timed from
the first message sent to the run marked finished in PostgreSQL. CPU seconds are the worker's pool
processes' (user + system, from /proc), so the moto server and PostgreSQL are not counted.

With `--stages`, the same worker then takes the `detect` and `captions` queues over the stored
articles (figures/s of each stage on CPU), and the sizes in PostgreSQL and the blob store per
article and per figure are measured after all stages.

    python bench/worker_bench.py [--articles 300] [--processes 1 2] [--group-size 16] [--stages]

Uses DATABASE_URL as the admin connection (default postgresql://postgres@127.0.0.1:5432/test) and
FIGMINE_TEST_REDIS_URL / redis://127.0.0.1:6379/0 as the broker (under a key prefix of its own).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import psutil  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from scratch_db import create_database, drop_database  # noqa: E402
from support.worker_harness import REDIS_URL, clone_articles, drop_prefix, new_prefix  # noqa: E402


def start_mirror(n: int) -> tuple[object, str, str, int]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    from harvester.sources.mirror_builder import build_mirror
    from support.s3_mirror import admin_client

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    articles = clone_articles(n, 8_500_000)
    build_mirror(admin_client(endpoint), articles, bucket="pmc-oa-opendata")
    size = sum(len(a.xml) + len(a.pdf or b"") + sum(len(m) for m in a.media.values()) for a in articles)
    return server, endpoint, "pmc-oa-opendata", size


def pool_cpu(worker: psutil.Process) -> float:
    """User + system seconds of the worker's pool processes (alive ones)."""
    total = 0.0
    for child in worker.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def backend_cpu(database: str) -> float:
    """User + system seconds of the PostgreSQL backends serving `database` (alive ones; the workers'
    connection pools keep theirs open for the whole run)."""
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            title = " ".join(proc.info["cmdline"] or [])
            if title.startswith("postgres:") and f" {database} " in f"{title} ":
                t = proc.cpu_times()
                total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def query(url: str, sql: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def pending(url: str, sql_where: str) -> int:
    return int(query(url, f"SELECT count(*) FROM figures WHERE {sql_where}") or 0)


def run_config(args, processes: int, endpoint: str, bucket: str, admin_url: str, tmp: Path) -> dict:
    from harvester.discovery import ArticleRef
    from store import db

    url = create_database(admin_url, "figmine_worker_bench")
    empty_db = int(query(url, "SELECT pg_database_size(current_database())"))
    prefix = new_prefix()
    home = tmp / f"home-{processes}"
    blobs = tmp / f"blobs-{processes}"
    env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(home), "FIGMINE_BLOB_URL": str(blobs),
           "FIGMINE_BROKER_URL": REDIS_URL, "FIGMINE_BROKER_KEY_PREFIX": prefix, "FIGMINE_PMC_S3_ENDPOINT": endpoint,
           "FIGMINE_PMC_BUCKET": bucket, "FIGMINE_USE_EUROPEPMC": "false", "FIGMINE_CONCURRENCY": str(args.threads),
           "PYTHONPATH": str(ROOT)}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "FIGMINE_HOME", "FIGMINE_BLOB_URL", "FIGMINE_BROKER_URL",
                                          "FIGMINE_BROKER_KEY_PREFIX")})
    db.reset_caches()
    log = tmp / f"worker-{processes}.log"
    queues = "harvest,detect,captions" if args.stages else "harvest"
    proc = subprocess.Popen([sys.executable, "-m", "figmine", "worker", "--queues", queues, "--concurrency",
                             str(processes), "--loglevel", "warning" if not args.verbose else "info"],
                            env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    result: dict = {"processes": processes}
    try:
        # "ready." is logged at info level: wait on the pool instead when quieter
        deadline = time.monotonic() + 120
        worker = psutil.Process(proc.pid)
        while len(worker.children(recursive=True)) < processes:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(2.0)  # the pool processes finish importing
        from pipeline.runner import HarvestRunner
        from store.db import session_factory
        from workers.celery_app import dispatch_harvest
        from workers.progress import wait_for_run

        from figmine.settings import get_settings

        runner = HarvestRunner.from_settings(get_settings(), session_factory())
        run_id = runner.start_run({"command": "bench"})
        refs = [ArticleRef(f"PMC{8_500_000 + i}") for i in range(args.articles)]
        follow = ["detect", "captions"] if args.stages else []
        database = make_url(url).database
        cpu0, db0, wall0 = pool_cpu(worker), backend_cpu(database), time.perf_counter()
        dispatch_harvest(run_id, refs, follow=follow, group_size=args.group_size)
        summary = wait_for_run(session_factory(), run_id, poll_s=0.1, timeout_s=3600)
        result.update(wall=time.perf_counter() - wall0, cpu=pool_cpu(worker) - cpu0, articles=summary.done,
                      failed=summary.failed, figures=summary.figures, db_cpu=backend_cpu(database) - db0)
        if args.stages:
            for stage, where in (("detect", "image_key IS NOT NULL AND detected_at IS NULL"),
                                 ("captions", "annotated_at IS NULL OR annotated_at < detected_at")):
                cpu0, wall0 = pool_cpu(worker), time.perf_counter()
                while pending(url, where):
                    time.sleep(0.2)
                # the stages overlap the harvest; what is left after it is timed here
                result[f"{stage}_tail_wall"] = time.perf_counter() - wall0
            result["stages_wall"] = time.perf_counter() - wall0 + result["wall"]
            result["stages_cpu"] = pool_cpu(worker) - cpu0 + result["cpu"]
            result["panels"] = int(query(url, "SELECT count(*) FROM subfigures"))
            result["mentions"] = int(query(url, "SELECT count(*) FROM concept_mentions"))
        result["db_bytes"] = int(query(url, "SELECT pg_database_size(current_database())")) - empty_db
        # the clones share their templates' files (content-addressed: stored once), so blob sizes are
        # per distinct article / figure image
        from store.blobs import LocalBlobStore

        store = LocalBlobStore(blobs)
        engine = create_engine(url)
        with engine.connect() as conn:
            xml_keys = set(conn.execute(text("SELECT DISTINCT xml_blob_key FROM articles")).scalars()) - {None}
            image_keys = set(conn.execute(text("SELECT DISTINCT image_key FROM figures")).scalars()) - {None}
        engine.dispose()
        result["blob_bytes"] = sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file())
        result["distinct_articles"] = len(xml_keys)
        result["image_bytes"] = sum(store.path(k).stat().st_size for k in image_keys)
        result["distinct_images"] = len(image_keys)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        drop_database(admin_url, url)
        drop_prefix(prefix)
        shutil.rmtree(blobs, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="articles fetched at once in each pool process")
    parser.add_argument("--stages", action="store_true", help="also detect and caption, and measure sizes after")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    server, endpoint, bucket, size = start_mirror(args.articles)
    print(f"mirror: {args.articles} articles, {size / 1e6:.1f} MB (moto S3 on {endpoint}); "
          f"groups of {args.group_size}, {args.threads} threads per pool process; load {os.getloadavg()[0]:.1f}")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="figmine-worker-bench-") as tmp:
            for processes in args.processes:
                rows.append(run_config(args, processes, endpoint, bucket, admin_url, Path(tmp)))
                assert rows[-1]["failed"] == 0 and rows[-1]["articles"] == args.articles, rows[-1]
    finally:
        server.stop()
    print("| pool processes | articles | figures | wall s | articles/s | pool CPU s | articles per CPU-s "
          "| PostgreSQL CPU s | articles per PostgreSQL CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['processes']} | {r['articles']} | {r['figures']} | {r['wall']:.1f} | {r['articles'] / r['wall']:.1f} "
              f"| {r['cpu']:.1f} | {r['articles'] / r['cpu']:.1f} | {r['db_cpu']:.1f} "
              f"| {r['articles'] / max(r['db_cpu'], 1e-9):.0f} |")
    if args.stages:
        print("\nall stages (harvest → detect → captions, overlapping on the same pool):")
        print("| pool processes | figures | panels | mentions | wall s (all stages) | figures/s | pool CPU s | CPU s per figure |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['processes']} | {r['figures']} | {r['panels']} | {r['mentions']} | {r['stages_wall']:.1f} | "
                  f"{r['figures'] / r['stages_wall']:.2f} | {r['stages_cpu']:.1f} | {r['stages_cpu'] / r['figures']:.3f} |")
    print("\nsizes after the run (PostgreSQL: database size growth incl. indexes and TOAST; blobs: files on disk):")
    for r in rows:
        print(f"- {r['processes']} proc: PostgreSQL {r['db_bytes'] / 1e6:.1f} MB = {r['db_bytes'] / r['articles'] / 1e3:.1f} "
              f"kB/article, {r['db_bytes'] / r['figures'] / 1e3:.1f} kB/figure; blob store {r['blob_bytes'] / 1e6:.2f} MB "
              f"for {r['distinct_articles']} distinct articles = {r['blob_bytes'] / r['distinct_articles'] / 1e3:.0f} "
              f"kB/article, of which figure images {r['image_bytes'] / r['distinct_images'] / 1e3:.0f} kB/figure "
              f"({r['distinct_images']} distinct images)")


if __name__ == "__main__":
    main()
