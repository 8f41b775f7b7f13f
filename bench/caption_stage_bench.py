"""The caption stage end to end: figures (captions) per second per core, and its process's memory.

    python bench/caption_stage_bench.py [--database-url URL] [--rounds 5] [--batch-size 64]
                                        [--no-detect] [--extra PATH ...]

A fresh database (`figmine_bench_captions` on the server of `--database-url`, default
postgresql://postgres@127.0.0.1:5432/postgres) gets the real articles of `tests/fixtures/packages` and
`tests/fixtures/nxml` (plus `--extra` paths) through `figmine ingest --no-concepts`, in a child
process: with detection (unless `--no-detect`), so the figures with images have panels whose crops
feed the image cues. Then, in this process, `pipeline.caption_stage.annotate_pending` runs over every
figure, `--rounds` times (each round first marks every figure pending again; the tagger stays
loaded, as in a long-running worker, so rounds after the first see the linker's memo warm).

Per round: wall and CPU time of this process (`time.process_time`, all its threads; the PostgreSQL
server's own CPU is not counted), figures, texts (captions + subcaptions + citances) and mentions.
Memory: resident set size before loading the tagger, after the first round and at the end, and the
peak (`ru_maxrss`). BLAS/OpenMP threads are pinned to 1.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "figmine_bench_captions"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from store.db import to_sqlalchemy_url

    admin = create_engine(to_sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    return make_url(to_sqlalchemy_url(admin_url)).set(database=DB_NAME).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-detect", action="store_true")
    parser.add_argument("--extra", nargs="*", default=[])
    args = parser.parse_args()

    url = fresh_database(args.database_url)
    home = Path(tempfile.mkdtemp(prefix="figmine-bench-captions-"))
    env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(home), "FIGMINE_USE_EUROPEPMC": "false"}
    env.pop("FIGMINE_BLOB_URL", None)
    paths = [str(ROOT / "tests/fixtures/packages"), str(ROOT / "tests/fixtures/nxml"), *args.extra]
    cmd = [sys.executable, "-m", "figmine", "ingest", "--no-concepts", *(["--no-detect"] if args.no_detect else []),
           *paths]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "FIGMINE_HOME", "FIGMINE_USE_EUROPEPMC")})

    from sqlalchemy import func, select, update

    from figmine.settings import get_settings
    from store.blobs import open_blob_store
    from store.db import session_factory
    from store.models import Citance, Figure, Subcaption, Subfigure

    sessions = session_factory()
    blobs = open_blob_store(get_settings().blob_location)
    with sessions() as s:
        figures = s.scalar(select(func.count(Figure.id)))
        chars = s.scalar(select(func.avg(func.length(Figure.caption_text))))
        panels = s.scalar(select(func.count(Subfigure.id)))
        subcaptions = s.scalar(select(func.count(Subcaption.id)))
        citances = s.scalar(select(func.count(Citance.id)))

    rss_before = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    from captions.concepts import get_tagger
    from pipeline.caption_stage import annotate_pending

    tagger = get_tagger()
    load_wall, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_loaded = rss_mb()
    rounds = []
    for _ in range(args.rounds):
        with sessions.begin() as s:
            s.execute(update(Figure).values(annotated_at=None))
        w0, p0 = time.perf_counter(), time.process_time()
        summary = annotate_pending(sessions, blobs, tagger, batch_size=args.batch_size)
        rounds.append((time.perf_counter() - w0, time.process_time() - p0, summary))
        if len(rounds) == 1:
            rss_first = rss_mb()
    first_wall, first_cpu, first = rounds[0]
    later = rounds[1:] or rounds
    cpu = statistics.median(r[1] for r in later)
    wall = statistics.median(r[0] for r in later)

    print(f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}")
    print(f"corpus: {figures} figures (mean caption {chars:.0f} characters), {panels} panels, "
          f"{subcaptions} subcaptions, {citances} citances; {first.texts} texts tagged and "
          f"{first.mentions} mentions stored per round, {first.panels} panel modalities, "
          f"{first.citance_links} panel citances, {first.errors} errors")
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| figures (= captions) per CPU-second, first round (tagger memo cold) | {first.figures / first_cpu:.0f} |")
    print(f"| figures per CPU-second, later rounds (median of {len(later)}) | {first.figures / cpu:.0f} |")
    print(f"| texts tagged per CPU-second, later rounds | {first.texts / cpu:.0f} |")
    print(f"| wall seconds per round: first / later (median) | {first_wall:.2f} / {wall:.2f} |")
    print(f"| CPU seconds per round: first / later (median) | {first_cpu:.2f} / {cpu:.2f} |")
    print(f"| loading the tagger (KB cached) | {load_wall:.1f} s wall, {load_cpu:.1f} s CPU |")
    print(f"| RSS: before the tagger / loaded / after round 1 / end / peak | {rss_before:.0f} / {rss_loaded:.0f} / "
          f"{rss_first:.0f} / {rss_mb():.0f} / **{peak_rss_mb():.0f} MB** |")


if __name__ == "__main__":
    main()
