"""Parse throughput: figmine's `parse_jats` (with citances) against pubmed_parser.

pubmed_parser does less work (captions, and paragraphs without sentences or panels) but parses
each file twice (`parse_pubmed_caption` + `parse_pubmed_paragraph`); figmine parses once. Both
read the file from disk in the timed loop. Files on which pubmed_parser raises are listed and left
out of the head-to-head timing (figmine is also timed on all files).

    .venv/bin/python bench/parse_bench.py [--rounds 20] [--cpu 0] [--clock wall|cpu] [DIR_OR_FILE ...]

Defaults to every file under /work/shared/fixtures/nxml and tests/fixtures/nxml. Progress goes
to stderr; the Markdown table for bench/RESULTS.md to stdout. `--clock cpu` times each call by
the thread's CPU time instead of wall time: on a loaded machine a call's wall time includes the
time slices other processes took, its CPU time does not (both parsers run in the calling thread).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harvester.jats import JatsError, parse_jats  # noqa: E402
from harvester.jats.secure_xml import _parser, parse_xml  # noqa: E402

_FLOOR_PARSER = _parser(recover=False)

DEFAULT_INPUTS = [Path("/work/shared/fixtures/nxml"), REPO / "tests" / "fixtures" / "nxml"]
XML_SUFFIXES = {".xml", ".nxml"}


def collect(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix in XML_SUFFIXES))
        elif item.is_file():
            files.append(item)
    return files


def run_figmine(path: Path) -> int:
    articles = parse_jats(path.read_bytes(), source_name=str(path))
    return sum(len(a.citances) for a in articles)


def run_pubmed_parser(path: Path) -> int:
    import pubmed_parser as pp

    captions = pp.parse_pubmed_caption(str(path)) or []
    paragraphs = pp.parse_pubmed_paragraph(str(path), all_paragraph=True) or []
    return len(captions) + len(paragraphs)


def run_libxml2_once(path: Path) -> int:
    """The floor a one-parse design starts from: libxml2 builds the whole file's tree once, no
    Python work (pubmed_parser pays this twice)."""
    from lxml import etree

    return len(etree.fromstring(path.read_bytes(), _FLOOR_PARSER))


def run_figmine_tree_only(path: Path) -> int:
    """figmine's share before any Python walk: cut the unused bytes, parse the rest, free it."""
    return len(parse_xml(path.read_bytes())[0])


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def time_rounds(
    runners: dict[str, Callable[[Path], int]], files: list[Path], rounds: int, clock: str = "wall"
) -> dict[str, dict[Path, float]]:
    """Best seconds per file for each runner, after one warm-up pass. Runners take turns file by
    file, so that load from other processes on the machine hits them alike."""
    now = CLOCKS[clock]
    best = {name: {path: float("inf") for path in files} for name in runners}
    for fn in runners.values():
        for path in files:
            fn(path)
    for r in range(rounds):
        for path in files:
            for name, fn in runners.items():
                start = now()
                fn(path)
                best[name][path] = min(best[name][path], now() - start)
        status = "  ".join(f"{name} {sum(times.values()) * 1000:.1f} ms" for name, times in best.items())
        print(f"\rround {r + 1}/{rounds}: {status}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return best


def group_of(path: Path) -> str:
    return path.parent.name if path.parent.name not in ("nxml",) else "(top level)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", type=Path, default=DEFAULT_INPUTS)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--cpu", type=int, default=0, help="pin to this CPU (single core); -1 to not pin")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="time calls by wall time or by the thread's CPU time (steadier under load)")
    args = ap.parse_args()
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    warnings.filterwarnings("ignore")

    files = collect(args.inputs)
    crashes: dict[Path, str] = {}
    figmine_errors: dict[Path, str] = {}
    for path in files:
        try:
            run_pubmed_parser(path)
        except Exception as error:  # noqa: BLE001 - recording pubmed_parser's crashes is the point
            crashes[path] = f"{type(error).__name__}: {error}"
        try:
            run_figmine(path)
        except JatsError as error:
            figmine_errors[path] = str(error)
    both = [p for p in files if p not in crashes and p not in figmine_errors]
    sizes = {p: p.stat().st_size for p in files}
    print(f"{len(files)} files, {sum(sizes.values()) / 1e6:.2f} MB; pubmed_parser fails on {len(crashes)}", file=sys.stderr)

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    runners = {"figmine": run_figmine, "pubmed_parser": run_pubmed_parser,
               "libxml2": run_libxml2_once, "figmine_tree": run_figmine_tree_only}
    best = time_rounds(runners, both, args.rounds, args.clock)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    fm, pp = sum(best["figmine"].values()), sum(best["pubmed_parser"].values())
    n_articles = {p: len(parse_jats(p.read_bytes())) for p in both}
    mb = sum(sizes[p] for p in both) / 1e6
    articles = sum(n_articles.values())
    print("| parser | files | articles | MB | time per pass (ms) | articles/s | MB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, seconds in (
        ("pubmed_parser 0.5.1: parse_pubmed_caption + parse_pubmed_paragraph", pp),
        ("figmine parse_jats (metadata, figures, citances with panels)", fm),
    ):
        print(f"| {name} | {len(both)} | {articles} | {mb:.2f} | {seconds * 1000:.1f} | "
              f"{articles / seconds:,.0f} | {mb / seconds:.1f} |")
    floor, tree = sum(best["libxml2"].values()), sum(best["figmine_tree"].values())
    print(f"| floor: libxml2 tree of the whole file, once, no Python | {len(both)} | {articles} | {mb:.2f} | "
          f"{floor * 1000:.1f} | {articles / floor:,.0f} | {mb / floor:.1f} |")
    print(f"| figmine's tree alone: cut unused bytes + libxml2 + free, no Python | {len(both)} | {articles} | "
          f"{mb:.2f} | {tree * 1000:.1f} | {articles / tree:,.0f} | {mb / tree:.1f} |")
    print(f"\npubmed_parser / floor: {pp / floor:.2f}× (what one parse of the whole file with no Python "
          f"work would reach); figmine's Python work: {(fm - tree) * 1000:.1f} ms per pass "
          f"({(pp / 3 - tree) * 1000:.1f} ms would give 3×).")
    print(f"\nSpeed-up figmine / pubmed_parser: **{pp / fm:.2f}×** (per file best of {args.rounds} runs, "
          f"summed; {args.clock} clock).")
    print("\n| folder | files | MB | pubmed_parser ms | figmine ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for group in sorted({group_of(p) for p in both}):
        members = [p for p in both if group_of(p) == group]
        g_pp = sum(best["pubmed_parser"][p] for p in members)
        g_fm = sum(best["figmine"][p] for p in members)
        g_mb = sum(sizes[p] for p in members) / 1e6
        print(f"| {group} | {len(members)} | {g_mb:.2f} | {g_pp * 1000:.1f} | {g_fm * 1000:.1f} | {g_pp / g_fm:.2f}× |")
    if crashes:
        print("\npubmed_parser crashes (left out of the comparison):")
        for path, message in crashes.items():
            print(f"- `{path}`: {message.splitlines()[0][:160]}")
    if figmine_errors:
        print("\nfigmine JatsError (not JATS):")
        for path, message in figmine_errors.items():
            print(f"- `{path}`: {message[:160]}")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, lxml {__import__('lxml.etree').etree.__version__}, "
          f"pinned to CPU {args.cpu}; 1-minute load average {load_before:.1f} before the timing, "
          f"{load_after:.1f} after.")


if __name__ == "__main__":
    main()
