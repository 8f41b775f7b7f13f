"""Ingest throughput from a local bucket-layout mirror into PostgreSQL (no detection).

Builds a mirror of N articles by giving real OA articles (tests/fixtures/s3_mirror_src: XML, JPEG
figures, a PDF) new PMCIDs, then runs figmine's ingest into a fresh database and reports articles/s
(wall) and articles per CPU-second of the figmine process, beside the floor of just reading and
hashing the same files.

    python bench/ingest_bench.py [--articles 300] [--concurrency 1 2]

Uses DATABASE_URL as the admin connection (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_db import create_database, drop_database  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from harvester.records import SourceError  # noqa: E402
from harvester.sources.local import iter_local_bundles  # noqa: E402
from harvester.sources.mirror_builder import build_mirror, load_articles  # noqa: E402


def make_mirror(dest: Path, n: int) -> int:
    base = [a for a in load_articles(ROOT / "tests/fixtures/s3_mirror_src")]
    latest = {}
    for a in base:
        if a.pmcid not in latest or a.version > latest[a.pmcid].version:
            latest[a.pmcid] = a
    templates = list(latest.values())
    clones = [replace(templates[i % len(templates)], pmcid=f"PMC{8_000_000 + i}", version=1) for i in range(n)]
    build_mirror(dest, clones)
    return sum(len(a.media) for a in clones)


def read_floor(mirror: Path) -> float:
    """Seconds to read and sha256 every file of the mirror once (the I/O + hashing floor)."""
    start = time.perf_counter()
    for path in mirror.rglob("*"):
        if path.is_file():
            hashlib.sha256(path.read_bytes()).hexdigest()
    return time.perf_counter() - start




def run_ingest(url: str, mirror: Path, blobs_dir: Path, concurrency: int) -> dict:
    from sqlalchemy.orm import sessionmaker

    from pipeline.prepare import Preparer
    from pipeline.runner import HarvestRunner, WorkItem
    from store.blobs import LocalBlobStore

    engine = create_engine(url, pool_size=concurrency + 2)
    runner = HarvestRunner(sessionmaker(engine), Preparer(LocalBlobStore(blobs_dir), max_image_pixels=200_000_000),
                           concurrency=concurrency)
    with tempfile.TemporaryDirectory() as work:
        def items():
            for entry in iter_local_bundles([mirror], Path(work)):
                if isinstance(entry, SourceError):
                    raise entry
                yield WorkItem(entry.pmcid or str(entry.xml_path), lambda _, b=entry: b)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = runner.run(items(), {"command": "bench"})
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    engine.dispose()
    return {"articles": summary.done, "failed": summary.failed, "figures": summary.figures, "wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

    with tempfile.TemporaryDirectory(prefix="figmine-bench-") as tmp:
        mirror = Path(tmp) / "mirror"
        n_media = make_mirror(mirror, args.articles)
        size = sum(p.stat().st_size for p in mirror.rglob("*") if p.is_file())
        floor = read_floor(mirror)
        print(f"mirror: {args.articles} articles, {n_media} figure files, {size / 1e6:.1f} MB")
        print(f"floor (read + sha256 every file): {floor:.2f} s = {args.articles / floor:.0f} articles/s")
        print("| workers | articles | figures | wall s | articles/s | CPU s (figmine) | articles per CPU-s |")
        print("|---|---|---|---|---|---|---|")
        for concurrency in args.concurrency:
            url = create_database(admin_url, "figmine_bench")
            blobs = Path(tmp) / f"blobs-{concurrency}"
            try:
                r = run_ingest(url, mirror, blobs, concurrency)
            finally:
                drop_database(admin_url, url)
                shutil.rmtree(blobs, ignore_errors=True)
            assert r["failed"] == 0, r
            print(f"| {concurrency} | {r['articles']} | {r['figures']} | {r['wall']:.1f} | "
                  f"{r['articles'] / r['wall']:.1f} | {r['cpu']:.1f} | {r['articles'] / r['cpu']:.1f} |")


if __name__ == "__main__":
    main()
