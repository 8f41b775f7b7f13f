"""Lose nothing at scale: ingest thousands of JATS files (detection off, caption stage on) and account for
every one, then ingest them again and check nothing is stored twice.

    python bench/scale_ingest.py --corpus ~/elife-article-xml/articles --limit 5000   # a real corpus
    python bench/scale_ingest.py --articles 5000                                       # built, see below

Without `--corpus`, the corpus is built from the real JATS articles of tests/fixtures/nxml (and
../shared/fixtures/nxml when present): each copy gets its own PMCID and DOI in its front matter, so the
articles are distinct identities with real text, figures and citances; one file in 50 is a
`<pmc-articleset>` of 10 such articles. The run is a real `figmine ingest` subprocess on a fresh
database; the report gives its outcome counts, that they add up to the inputs (a multi-article file
counts its articles), that every failure and partial has a reason, that each article of the
multi-article files kept the figures and citances it has alone, and the rerun's counts. Peak RSS is
the ingest process's (ru_maxrss), CPU its user + system time.

Uses DATABASE_URL as the admin connection (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_db import create_database, drop_database  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from harvester.jats import parse_jats  # noqa: E402
from harvester.jats.secure_xml import JatsError  # noqa: E402

TEMPLATE_DIRS = [ROOT / "tests/fixtures/nxml", ROOT.parent / "shared/fixtures/nxml"]
_ARTICLE_START = re.compile(rb"<article[\s>]")  # a member starts there: declaration, comments, DOCTYPE dropped
_PMC = re.compile(rb'(<article-id pub-id-type="pmc(?:id)?">)[^<]*(</article-id>)')
_DOI = re.compile(rb'(<article-id pub-id-type="doi">)[^<]*(</article-id>)')
_META = re.compile(rb"<article-meta>")
SET_EVERY, SET_SIZE = 50, 10


def templates() -> list[bytes]:
    """Real single articles to copy: those whose front matter can carry a new PMCID."""
    found: list[bytes] = []
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.suffix not in (".xml", ".nxml"):
                continue
            data = path.read_bytes()
            try:
                articles = parse_jats(data)
            except JatsError:
                continue
            if len(articles) == 1 and _META.search(data):
                found.append(data)
    return found


def distinct_copy(xml: bytes, n: int) -> bytes:
    """`xml` as article n: its own PMCID (added when it has none) and DOI."""
    pmc = str(9_100_000 + n).encode()
    if _PMC.search(xml):
        xml = _PMC.sub(lambda m: m.group(1) + pmc + m.group(2), xml, count=1)
    else:
        xml = _META.sub(b'<article-meta><article-id pub-id-type="pmc">' + pmc + b"</article-id>", xml, count=1)
    return _DOI.sub(lambda m: m.group(1) + b"10.99999/scale." + pmc + m.group(2), xml, count=1)


def _body(xml: bytes) -> bytes:
    return xml[_ARTICLE_START.search(xml).start():]


def build_corpus(dest: Path, n_articles: int) -> tuple[int, list[Path]]:
    """Write about `n_articles` articles as files; returns (articles written, the multi-article files)."""
    base = templates()
    written, sets, i = 0, [], 0
    while written < n_articles:
        if i % SET_EVERY == SET_EVERY - 1 and n_articles - written >= SET_SIZE:
            members = [_body(distinct_copy(base[(written + k) % len(base)], written + k)) for k in range(SET_SIZE)]
            path = dest / f"set_{i:05d}.xml"
            path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<pmc-articleset>' + b"".join(members)
                             + b"</pmc-articleset>")
            sets.append(path)
            written += SET_SIZE
        else:
            (dest / f"article_{i:05d}.xml").write_bytes(distinct_copy(base[written % len(base)], written))
            written += 1
        i += 1
    return written, sets


def count_inputs(corpus: Path, limit: int | None) -> tuple[list[Path], int]:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".xml", ".nxml"))[:limit]
    return files, len(files)


def ingest(corpus_args: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "figmine", "ingest", "--no-detect", *corpus_args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = (proc.stdout + proc.stderr)[-3000:]
    return {"exit": proc.returncode, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024,
            "crashed": "Traceback" in proc.stderr, "tail": tail}


def run_outcomes(url: str, run_id: int) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT status, count(*) FROM harvest_items WHERE run_id = :r "
                                        "GROUP BY status"), {"r": run_id}).all())
        no_reason = conn.execute(text("SELECT count(*) FROM harvest_items WHERE run_id = :r AND status IN "
                                      "('failed', 'partial', 'conflict') AND coalesce(reason, '') = ''"),
                                 {"r": run_id}).scalar()
        origins = {row[0] for row in conn.execute(text("SELECT coalesce(origin, item) FROM harvest_items "
                                                       "WHERE run_id = :r"), {"r": run_id})}
        reasons = Counter(row[0].split(":")[0][:80] for row in conn.execute(text(
            "SELECT reason FROM harvest_items WHERE run_id = :r AND status IN ('failed', 'partial')"),
            {"r": run_id}))
        totals = conn.execute(text("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM figures), "
                                   "(SELECT count(*) FROM citances), (SELECT count(*) FROM figures WHERE "
                                   "annotated_at IS NOT NULL)")).one()
    engine.dispose()
    return {"counts": counts, "without_reason": no_reason, "origins": origins, "top_reasons": reasons.most_common(5),
            "articles": totals[0], "figures": totals[1], "citances": totals[2], "annotated": totals[3]}


def check_sets(url: str, sets: list[Path]) -> tuple[int, int]:
    """(articles of multi-article files checked, those whose figures or citances differ from the article alone)."""
    engine = create_engine(url)
    checked = wrong = 0
    with engine.connect() as conn:
        for path in sets:
            for parsed in parse_jats(path.read_bytes()):
                got = conn.execute(text("SELECT (SELECT count(*) FROM figures f WHERE f.article_id = a.id), "
                                        "(SELECT count(*) FROM citances c WHERE c.article_id = a.id) FROM articles a "
                                        "WHERE a.article_key = :k"), {"k": parsed.pmcid}).one_or_none()
                checked += 1
                wrong += got is None or tuple(got) != (len(parsed.figures), len(parsed.citances))
    engine.dispose()
    return checked, wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="a folder of real JATS files (e.g. elife-article-xml/articles)")
    ap.add_argument("--limit", type=int, help="with --corpus: the first N files (sorted by name)")
    ap.add_argument("--articles", type=int, default=5000, help="without --corpus: articles to build")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    url = create_database(admin, "figmine_bench_scale")
    with tempfile.TemporaryDirectory(prefix="figmine-scale-") as tmp:
        work = Path(tmp)
        sets: list[Path] = []
        if args.corpus:
            files, n_files = count_inputs(args.corpus, args.limit)
            corpus_args = [str(p) for p in files] if args.limit else [str(args.corpus)]
            inputs = sum(len(parse_jats(p.read_bytes())) if b"<pmc-articleset" in p.read_bytes()[:4096] else 1
                         for p in files)
            source = f"{args.corpus} ({n_files} files)"
        else:
            corpus = work / "corpus"
            corpus.mkdir()
            inputs, sets = build_corpus(corpus, args.articles)
            n_files = len(list(corpus.iterdir()))
            corpus_args = [str(corpus)]
            source = f"{inputs} articles built from {len(templates())} real JATS articles ({n_files} files)"
        env = {**os.environ, "DATABASE_URL": url, "FIGMINE_HOME": str(work / "home")}
        try:
            first = ingest(corpus_args, env)
            one = run_outcomes(url, 1)
            second = ingest(corpus_args, env)
            two = run_outcomes(url, 2)
            sets_checked, sets_wrong = check_sets(url, sets)
        finally:
            drop_database(admin, url)
    accounted = sum(one["counts"].values())
    report = {
        "source": source, "inputs": inputs, "files": n_files,
        "first": {**{k: v for k, v in first.items() if k != "tail"}, "outcomes": one["counts"],
                  "accounted": accounted, "without_reason": one["without_reason"],
                  "articles_per_cpu_s": inputs / first["cpu_s"] if first["cpu_s"] else None,
                  "top_reasons": one["top_reasons"], "articles": one["articles"], "figures": one["figures"],
                  "citances": one["citances"], "annotated": one["annotated"]},
        "rerun": {**{k: v for k, v in second.items() if k != "tail"}, "outcomes": two["counts"],
                  "articles": two["articles"], "figures": two["figures"], "citances": two["citances"]},
        "multi_article_files": {"files": len(sets), "articles_checked": sets_checked, "differing": sets_wrong},
    }
    print(json.dumps(report, indent=2, default=str))
    if first["crashed"] or second["crashed"]:
        print(first["tail"], second["tail"], sep="\n----\n", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=str))
    ok = (not first["crashed"] and not second["crashed"] and accounted == inputs and one["without_reason"] == 0
          and set(two["counts"]) <= {"skipped", "conflict"} and two["articles"] == one["articles"]
          and two["figures"] == one["figures"] and sets_wrong == 0)
    print("LOST NOTHING" if ok else "CHECK FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
