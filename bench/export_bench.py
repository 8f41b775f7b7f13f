"""Export throughput (MB/s) beside `tar` of the same image files.

Builds a synthetic corpus in a fresh database: the real OA packages in tests/fixtures/packages are
ingested with `figmine ingest` (10 JPEG figures), then `--figures` figure rows are added, 5 per
article, each pointing to its own blob: the bytes of one of the real JPEGs with a JPEG comment
segment (COM) naming the copy, so every image is a distinct file (its own sha256) with real pixels.
Captions come from the real figures. Optionally `--panel-figures` of them get three panel rows each
for a panel-level run (crop + JPEG encode of every panel).

Every image file is read once before timing (page cache warm for both sides). Then, `--rounds`
times each, in turns: GNU `tar -cf` of the figures' blob files (the floor: read and copy the bytes
with a header each) and `run_export` in each format into a fresh folder on the same disk. The
figure is MB of image files per second (the same numerator for tar and the exports, though the
exports also write captions and JSON), per wall second and per CPU second (user + system: tar's
from its rusage, the export's from this process, all threads, not counting the PostgreSQL server);
the best round of each counts. On a shared machine the CPU figure is the steadier one.

    python bench/export_bench.py [--figures 4000] [--rounds 3] [--formats webdataset parquet jsonl csv]
                                 [--panel-figures 300] [--write-results]

Uses DATABASE_URL as the admin connection (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_db import create_database, drop_database  # noqa: E402
from sqlalchemy import create_engine, insert, select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from store.blobs import LocalBlobStore  # noqa: E402
from store.db import to_sqlalchemy_url  # noqa: E402
from store.models import Article, Figure, Subfigure  # noqa: E402

SECTION = "## Export throughput"




def with_comment(jpeg: bytes, note: str) -> bytes:
    """The same JPEG with a COM segment after SOI: other bytes, same pixels."""
    payload = note.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def build_corpus(url: str, home: Path, n_figures: int, panel_figures: int) -> list[Path]:
    env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(home), "FIGMINE_USE_EUROPEPMC": "false"}
    env.pop("FIGMINE_BLOB_URL", None)
    done = subprocess.run([sys.executable, "-m", "figmine", "ingest", str(ROOT / "tests/fixtures/packages")],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"figmine ingest failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    blobs = LocalBlobStore(home / "blobs")
    engine = create_engine(url)
    with sessionmaker(engine)() as s:
        templates = s.execute(
            select(Figure.label, Figure.caption_title, Figure.caption_text, Figure.image_key, Figure.width,
                   Figure.height, Figure.phash, Article.license_code, Article.journal)
            .join(Article).where(Figure.image_key.is_not(None)).order_by(Article.article_key, Figure.ordinal)
        ).all()
        jpegs = [blobs.open(t.image_key) for t in templates]
        paths = [blobs.path(t.image_key) for t in templates]
        figure_rows, article_id = [], None
        for i in range(n_figures):
            if i % 5 == 0:
                t0 = templates[i % len(templates)]
                article_id = s.execute(insert(Article).values(
                    article_key=f"PMC{8_000_000 + i // 5}", pmcid=f"PMC{8_000_000 + i // 5}", version=1,
                    title=f"synthetic article {i // 5}", journal=t0.journal, year=2020,
                    license_code=t0.license_code, source="local", xml_sha256="0" * 64, content_hash="0" * 64,
                ).returning(Article.id)).scalar_one()
            t = templates[i % len(templates)]
            key = blobs.put_bytes(with_comment(jpegs[i % len(jpegs)], f"figmine bench copy {i}"), "jpg")
            paths.append(blobs.path(key))
            figure_rows.append(dict(
                article_id=article_id, ordinal=i % 5, label=t.label, caption_title=t.caption_title,
                caption_text=t.caption_text, image_key=key, image_format="JPEG", width=t.width, height=t.height,
                sha256=key.rsplit("/", 1)[1].split(".")[0], phash=t.phash, source="xml",
            ))
            if len(figure_rows) == 1000:
                s.execute(insert(Figure), figure_rows)
                figure_rows = []
        if figure_rows:
            s.execute(insert(Figure), figure_rows)
        if panel_figures:
            ids = s.execute(select(Figure.id, Figure.width, Figure.height).order_by(Figure.id)
                            .limit(panel_figures)).all()
            s.execute(insert(Subfigure), [
                dict(figure_id=fid, ordinal=k, x1=0, y1=h * k // 3, x2=w, y2=h * (k + 1) // 3, label="ABC"[k],
                     method="bench")
                for fid, w, h in ids for k in range(3)
            ])
        s.commit()
    engine.dispose()
    return paths


def warm(paths: list[Path]) -> int:
    return sum(len(p.read_bytes()) for p in paths)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tar(blob_root: Path, paths: list[Path], out: Path) -> tuple[float, float]:
    """(wall s, CPU s) of tar writing the files into one archive."""
    listing = out.with_suffix(".list")
    listing.write_text("\n".join(str(p.relative_to(blob_root)) for p in paths) + "\n")
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(["tar", "-cf", str(out), "-C", str(blob_root), "-T", str(listing)], check=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    out.unlink()
    return seconds, cpu


def run_one(factory, blobs, out: Path, fmt: str, level: str, workers: int | None):
    """(wall s, CPU s of this process, all threads; bytes written, records)."""
    from store.exporters import run_export

    cpu, start = time.process_time(), time.perf_counter()
    result = run_export(factory, blobs, out_dir=out, format=fmt, level=level, workers=workers)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    written = sum(f.bytes for f in result.files)
    records = result.counts["records"]
    shutil.rmtree(out)
    return seconds, cpu, written, records


def replace_section(results: Path, body: str) -> None:
    text_ = results.read_text(encoding="utf-8")
    start = text_.find(SECTION + "\n")
    if start < 0:
        text_ = text_.rstrip("\n") + "\n\n" + body
    else:
        end = text_.find("\n## ", start + len(SECTION))
        text_ = text_[:start] + (body.rstrip("\n") + "\n\n" + text_[end + 1:] if end >= 0 else body)
    results.write_text(text_, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["webdataset", "parquet", "jsonl", "csv"])
    parser.add_argument("--panel-figures", type=int, default=300, help="figures with 3 panels each (0: skip)")
    parser.add_argument("--workers", type=int, default=None, help="threads reading and encoding images "
                        "(default: the engine's choice, 1 for figures in a local store, 4 for panels)")
    parser.add_argument("--write-results", action="store_true", help=f"replace '{SECTION}' in bench/RESULTS.md")
    args = parser.parse_args()
    admin_url = to_sqlalchemy_url(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))

    lines: list[str] = []
    load_before = os.getloadavg()[0]

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    url = create_database(admin_url, "figmine_bench_export")
    try:
        with tempfile.TemporaryDirectory(prefix="figmine-export-bench-") as tmp:
            tmp_path = Path(tmp)
            home = tmp_path / "home"
            t0 = time.perf_counter()
            paths = build_corpus(url, home, args.figures, args.panel_figures)
            setup = time.perf_counter() - t0
            blob_root = home / "blobs"
            image_bytes = warm(paths)
            n = len(paths)
            say(f"corpus: {n} figures ({args.figures} synthetic + 10 real), {image_bytes / 1e6:.1f} MB of JPEG "
                f"files, built in {setup:.0f} s; {args.panel_figures} figures × 3 panels")
            engine = create_engine(url)
            factory = sessionmaker(engine)
            blobs = LocalBlobStore(blob_root)
            wall: dict[str, float] = {}
            cpu: dict[str, float] = {}
            out: dict[str, tuple[int, int]] = {}

            def keep(name: str, seconds: float, cpu_s: float) -> None:
                wall[name] = min(wall.get(name, 1e9), seconds)
                cpu[name] = min(cpu.get(name, 1e9), cpu_s)

            for _ in range(args.rounds):
                keep("tar", *run_tar(blob_root, paths, tmp_path / "floor.tar"))
                out["tar"] = (image_bytes, n)
                for fmt in args.formats:
                    seconds, cpu_s, written, records = run_one(factory, blobs, tmp_path / f"out-{fmt}", fmt,
                                                               "figure", args.workers)
                    keep(fmt, seconds, cpu_s)
                    out[fmt] = (written, records)
            if args.panel_figures:
                for _ in range(args.rounds):
                    seconds, cpu_s, written, records = run_one(factory, blobs, tmp_path / "out-panels", "webdataset",
                                                               "subfigure", args.workers)
                    keep("panels", seconds, cpu_s)
                    out["panels"] = (written, records)
            engine.dispose()
    finally:
        drop_database(admin_url, url)

    mb = image_bytes / 1e6
    say()
    say("| run | records | wall s | image MB/s (wall) | vs tar | CPU s | image MB per CPU-s | vs tar |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|")
    notes = {"jsonl": " (images hard-linked)", "csv": " (images hard-linked)"}
    for name in ["tar", *args.formats]:
        label = f"`tar -cf` of the {n} JPEG files" if name == "tar" else f"export {name}, figure level{notes.get(name, '')}"
        say(f"| {label} | {out[name][1]} | {wall[name]:.2f} | {mb / wall[name]:.0f} | "
            f"{wall['tar'] / wall[name]:.0%} | {cpu[name]:.2f} | {mb / cpu[name]:.0f} | {cpu['tar'] / cpu[name]:.0%} |")
    met = [f for f in args.formats if wall["tar"] / wall[f] >= 0.5]
    missed = [f for f in args.formats if f not in met]
    verdict = "Target (≥ 50% of tar's MB/s, wall): met by " + (", ".join(met) or "none")
    verdict += f"; not met by {', '.join(missed)}." if missed else "."
    if "panels" in out:
        written, records = out["panels"]
        say(f"| export webdataset, subfigure level (crop + JPEG q95) | {records} panels | {wall['panels']:.2f} | "
            f"{records / wall['panels']:.0f} panels/s | – | {cpu['panels']:.2f} | "
            f"{records / cpu['panels']:.0f} panels per CPU-s | – |")

    if args.write_results:
        command = "python bench/export_bench.py " + " ".join(sys.argv[1:]).replace("--write-results", "").strip()
        load = os.getloadavg()[0]
        body = (
            f"{SECTION}\n\n"
            f"`{command.strip()}` ({date.today().isoformat()}; {os.cpu_count()} cores shared with other "
            f"jobs, load average {load_before:.1f} before and {load:.1f} after; PostgreSQL 15 on 127.0.0.1, "
            f"Python {platform.python_version()}, local blob store, page cache warm). "
            "Synthetic corpus from the real OA packages in `tests/fixtures/packages`: their 10 JPEG figures are "
            "ingested with `figmine ingest`, then figure rows are added (5 per article), each with its own blob "
            "— a real JPEG plus a JPEG comment naming the copy (distinct sha256, real pixels) — and the real "
            "captions. `tar -cf` writes the same image files with a header each (the floor: read + copy). "
            "Exports stream the rows from PostgreSQL, build the records, and write shards (`*.part`, renamed) "
            "and a manifest. Image MB/s counts only the JPEG bytes, for both sides, although the exports also "
            "write captions and JSON; best of the rounds, wall and CPU separately (CPU = user + system of tar, "
            "of the export process with all its threads; PostgreSQL's own CPU not counted). JSONL and CSV "
            "hard-link the JPEG blobs into `images/`. Target: exports ≥ 50% of tar's MB/s.\n\n"
            "```\n" + "\n".join(lines[:1]) + "\n```\n\n" + "\n".join(lines[2:]) + "\n\n" + verdict + " "
            "Where the time goes (WebDataset, measured piece by piece on 2,010 figures when the machine was "
            "quiet): streaming the rows and building the records ≈ 20–40 µs per figure, its JSON ≈ 8 µs, the "
            "three tar headers ≈ 20 µs (filled in from a template; `tarfile.addfile` took ≈ 140–270 µs per "
            "sample, more than everything else together), then the read and write of the JPEG bytes that tar "
            "pays too. With 89 kB JPEGs this fixed cost per figure is what separates the export from tar; "
            "larger figures bring the two closer. Parquet pays two more copies of every image (Python bytes → "
            "Arrow buffer → Parquet page), the Parquet encoder and fresh Arrow memory for each row group (16 MB "
            "row groups cost about half the CPU of 64 MB ones here); its image column has no dictionary, "
            "statistics or compression, and row groups are written by a background thread. "
            "Panel-level exports are bound by decoding each figure once and encoding each crop as JPEG "
            "(Pillow, 4 threads).\n"
        )
        replace_section(ROOT / "bench" / "RESULTS.md", body)


if __name__ == "__main__":
    main()
