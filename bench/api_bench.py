"""REST API latency and throughput on a large synthetic corpus, beside the same SQL run bare on PostgreSQL.

    python bench/api_bench.py generate [--figures 1000000] [--fresh]     # builds the corpus (minutes)
    python bench/api_bench.py run [--seconds 8] [--requests 200] [--connections 8] [--workers 1]

`generate` fills a dedicated database (`figmine_bench_api` on the server of DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/test) entirely in SQL (`INSERT … SELECT generate_series`):
articles (10 figures each), figures with captions drawn from the vocabulary of the real JATS fixtures
(Zipf-like), panels for compound figures, subcaptions, citances with figure links and panel letters,
concepts and concept mentions, a modality taxonomy. Secondary indexes are dropped during the load
and rebuilt after it; the backend runs reniced.

`run` starts `figmine`'s API (uvicorn, one worker by default) on 127.0.0.1 and, per scenario (typical
filtered listings, ranked full text, deep keyset pages, a figure, autocomplete):
  - captures the SQL the API issues for that request (an SQLAlchemy event on the app's engine);
  - latency at concurrency 1: the request through httpx vs the captured SQL through psycopg
    (prepared, rows fetched), p50/p95 over `--requests` runs, and the CPU time the API server process
    spent per request meanwhile (from /proc: steadier than wall time on a shared machine);
  - throughput at `--connections`: `wrk` against the API vs `pgbench -M prepared` with the same SQL
    (or an asyncio/httpx load loop when wrk is not installed).
The first scenario, `/healthz` (no SQL), is the floor of an HTTP round trip through uvicorn and the
client on this machine. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DB_NAME = "figmine_bench_api"
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 100_000
MODALITIES = [  # code, name, parent
    ("radiology", "Radiology", None), ("radiology.ct", "Computed tomography", "radiology"),
    ("radiology.mri", "Magnetic resonance imaging", "radiology"), ("radiology.xray", "X-ray", "radiology"),
    ("radiology.ultrasound", "Ultrasound", "radiology"), ("radiology.pet", "PET", "radiology"),
    ("microscopy", "Microscopy", None), ("microscopy.light", "Light microscopy", "microscopy"),
    ("microscopy.fluorescence", "Fluorescence microscopy", "microscopy"),
    ("microscopy.electron", "Electron microscopy", "microscopy"),
    ("chart", "Chart", None), ("chart.bar", "Bar chart", "chart"), ("chart.line", "Line chart", "chart"),
    ("chart.scatter", "Scatter plot", "chart"), ("photograph", "Photograph", None), ("diagram", "Diagram", None),
    ("gel", "Gel / blot", None), ("sequence", "Sequence alignment", None),
]
LICENSES = [("CC BY", 0.60), ("CC BY-NC", 0.12), ("CC0", 0.05), ("CC BY-NC-ND", 0.10), ("CC BY-SA", 0.03),
            ("CC BY-NC-SA", 0.03), ("NO-CC CODE", 0.07)]


# -- corpus ----------------------------------------------------------------------------------------
def admin_url() -> str:
    from store.db import to_sqlalchemy_url

    return to_sqlalchemy_url(os.environ.get("DATABASE_URL") or DEFAULT_ADMIN)


def bench_url() -> str:
    return make_url(admin_url()).set(database=DB_NAME).render_as_string(hide_password=False)


def use_database(name: str) -> None:
    global DB_NAME
    DB_NAME = name


def vocabulary(limit: int = 8000) -> list[str]:
    """Words of the real JATS fixtures, most frequent first (sampling favours the head: Zipf-like)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in (ROOT / "tests/fixtures/nxml").rglob("*"):
        if path.suffix in (".xml", ".nxml") and path.is_file():
            body = re.sub(r"<[^>]+>", " ", path.read_text(errors="ignore"))
            counts.update(w for w in re.findall(r"[a-z]{3,15}", body.lower()))
    return [w for w, _ in counts.most_common(limit)]


def journals(words: list[str], n: int = 400) -> list[str]:
    real = ["PLoS ONE", "Scientific Reports", "Nature Communications", "eLife", "BMC Bioinformatics",
            "Frontiers in Immunology", "Cell Reports", "PLoS Computational Biology", "Radiology Case Reports",
            "BMC Microbiology", "Journal of Cell Biology", "Nucleic Acids Research"]
    made = [f"Journal of {words[50 + i].title()} {words[900 + 3 * i].title()}" for i in range(n - len(real))]
    return real + made


def _renice_backend(conn) -> None:
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 10)  # the machine is shared: the load yields to others
    except OSError:
        pass


def _step(conn, label: str, sql: str, params: dict, lo: int, hi: int) -> None:
    for start in range(lo, hi + 1, BATCH):
        end = min(hi, start + BATCH - 1)
        t = time.perf_counter()
        conn.execute(text(sql), {**params, "lo": start, "hi": end})
        print(f"  {label} {start:>9}–{end:<9} {time.perf_counter() - t:6.1f} s", flush=True)


WORDS = "(CAST(:words AS text[]))[1 + floor(:nw * power(random(), 2.2))::int]"  # Zipf-like draw from the vocabulary


def _phrase(n_expr: str) -> str:
    return f"(SELECT string_agg({WORDS}, ' ') FROM generate_series(1, {n_expr}) s)"


def generate(n_figures: int, fresh: bool) -> None:
    from store.migrate import upgrade

    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME})
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    url = bench_url()
    upgrade(url)
    words = vocabulary()
    names = journals(words)
    n_articles = n_figures // 10
    leaves = [i + 1 for i, (code, _, _) in enumerate(MODALITIES) if "." in code or code in
              ("photograph", "diagram", "gel", "sequence")]
    p = {"words": words, "nw": len(words), "journals": names, "nj": len(names), "leaves": leaves,
         "nl": len(leaves)}
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    with engine.connect() as conn:
        _renice_backend(conn)
        if conn.scalar(text("SELECT count(*) FROM figures")):
            print("the bench database already holds figures; use --fresh to rebuild it")
            return
        conn.execute(text("SET session_replication_role = replica"))  # no FK triggers during the bulk load
        conn.execute(text("SET maintenance_work_mem = '512MB'"))
        big = ["articles", "figures", "subfigures", "subcaptions", "citances", "citance_figures", "concepts",
               "concept_mentions"]
        indexes = conn.execute(
            text("SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
                 "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = 'public' "
                 "AND i.tablename = ANY(:t) AND NOT x.indisprimary AND NOT x.indisunique"),
            {"t": big},
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        print(f"dropped {len(indexes)} secondary indexes for the load")

        for i, (code, name, parent) in enumerate(MODALITIES, start=1):
            parent_id = next((j for j, m in enumerate(MODALITIES, start=1) if m[0] == parent), None)
            conn.execute(text("INSERT INTO modalities (id, code, name, parent_id) VALUES (:i, :c, :n, :p)"),
                         {"i": i, "c": code, "n": name, "p": parent_id})

        cum, cases = 0.0, []
        for code, share in LICENSES:
            cum += share
            cases.append(f"WHEN x.r < {cum:.4f} THEN '{code}'")
        license_case = "CASE " + " ".join(cases) + " ELSE 'CC BY' END"
        _step(conn, "articles", f"""
            INSERT INTO articles (id, article_key, pmcid, version, pmid, doi, title, journal, year, article_type,
                                  license_code, retracted, is_manuscript, source, xml_sha256, content_hash)
            SELECT g, 'PMC' || (1000000 + g), 'PMC' || (1000000 + g), 1, (20000000 + g)::text,
                   '10.5555/bench.' || g, initcap({_phrase('5 + g % 9')}),
                   (CAST(:journals AS text[]))[1 + floor(:nj * power(x.r2, 1.6))::int],
                   2025 - floor(30 * power(x.r3, 1.8))::int, 'research-article', {license_case},
                   x.r4 < 0.001, false, 's3', md5(g::text) || md5(g::text), md5('c' || g) || md5('d' || g)
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g,
                 LATERAL (SELECT random() + 0 * g AS r, random() AS r2, random() AS r3, random() AS r4) x
        """, p, 1, n_articles)
        _step(conn, "figures", f"""
            INSERT INTO figures (id, article_id, ordinal, jats_id, label, caption_title, caption_text, context,
                                 graphics, source, image_key, image_format, width, height, sha256, phash,
                                 is_compound, n_panels, modality_id, modality_score)
            SELECT g, (g - 1) / 10 + 1, (g - 1) % 10, 'F' || ((g - 1) % 10 + 1), 'Figure ' || ((g - 1) % 10 + 1),
                   initcap({_phrase('3 + g % 5')}) || '.', {_phrase('12 + g % 48')} || '.', 'body', '[]', 'xml',
                   substr(h.sha, 1, 2) || '/' || substr(h.sha, 3, 2) || '/' || h.sha || '.jpg', 'JPEG',
                   300 + floor(x.r2 * 2700)::int, 200 + floor(x.r3 * 2000)::int, h.sha, left(md5('p' || g), 16),
                   x.r < 0.4, CASE WHEN x.r < 0.4 THEN 2 + floor(x.r5 * 7)::int ELSE 1 END,
                   CASE WHEN x.r4 < 0.8 THEN (CAST(:leaves AS int[]))[1 + floor(x.r6 * :nl)::int] END, round(x.r6::numeric, 3)
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g,
                 LATERAL (SELECT random() + 0 * g AS r, random() AS r2, random() AS r3, random() AS r4,
                                 random() AS r5, random() AS r6) x,
                 LATERAL (SELECT md5(g::text) || md5((-g)::text) AS sha) h
        """, p, 1, n_figures)
        _step(conn, "subfigures", """
            INSERT INTO subfigures (figure_id, ordinal, x1, y1, x2, y2, score, method, label, modality_id,
                                    modality_score)
            SELECT f.id, k - 1,
                   ((k - 1) % 2) * f.width / 2, ((k - 1) / 2) * f.height / ((f.n_panels + 1) / 2),
                   ((k - 1) % 2 + 1) * f.width / 2, ((k - 1) / 2 + 1) * f.height / ((f.n_panels + 1) / 2),
                   0.5 + random() / 2, 'yolo', chr(64 + k),
                   CASE WHEN random() < 0.5 THEN (CAST(:leaves AS int[]))[1 + floor(random() * :nl)::int] END, random()
            FROM figures f, generate_series(1, f.n_panels) k
            WHERE f.is_compound AND f.id BETWEEN :lo AND :hi
        """, p, 1, n_figures)
        n_panels = conn.scalar(text("SELECT max(id) FROM subfigures")) or 0
        _step(conn, "subcaptions", f"""
            INSERT INTO subcaptions (figure_id, subfigure_id, ordinal, label, text, full_text)
            SELECT s.figure_id, s.id, s.ordinal, s.label, t.txt, t.txt
            FROM subfigures s, LATERAL (SELECT {_phrase('6 + s.id % 14')} AS txt) t
            WHERE s.figure_id % 2 = 0 AND s.id BETWEEN :lo AND :hi
        """, p, 1, n_panels)
        _step(conn, "citances", f"""
            INSERT INTO citances (id, article_id, ordinal, text, section, panels)
            SELECT g, (g - 1) / 10 + 1, (g - 1) % 10, initcap({_phrase('15 + g % 25')}) || '.', 'Results', '{{}}'
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
        """, p, 1, n_articles * 10)
        _step(conn, "citance links", """
            INSERT INTO citance_figures (citance_id, figure_id, panels)
            SELECT c.g, f.id,
                   CASE WHEN f.is_compound AND c.r < 0.6 THEN ARRAY[chr(65 + floor(c.r2 * f.n_panels)::int)]
                        ELSE '{}'::varchar[] END
            FROM (SELECT g, ((g - 1) / 10) * 10 + 1 + floor(random() * 10)::int AS fid, random() AS r,
                         random() AS r2
                  FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g) c
            JOIN figures f ON f.id = c.fid
            ON CONFLICT DO NOTHING
        """, p, 1, n_articles * 10)
        n_concepts = 30_000
        _step(conn, "concepts", f"""
            INSERT INTO concepts (id, vocab, code, name, semantic_types)
            SELECT g, 'MSH', 'D' || lpad(g::text, 6, '0'), initcap({_phrase('1 + g % 3')}), ARRAY['T023']
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
        """, p, 1, n_concepts)
        _step(conn, "concept mentions", """
            INSERT INTO concept_mentions (concept_id, figure_id, field, start, "end", text)
            SELECT 1 + floor(:nc * power(random() + 0 * f, 3))::int, f, 'caption', 0, 4, 'term'
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) f, generate_series(1, 1 + f % 3) k
        """, {**p, "nc": n_concepts}, 1, n_figures)

        conn.execute(text("SET session_replication_role = origin"))
        for name, definition in indexes:
            t = time.perf_counter()
            conn.execute(text(definition))
            print(f"  index {name} {time.perf_counter() - t:6.1f} s", flush=True)
        for table in big + ["modalities"]:
            if table != "citance_figures":  # explicit ids were inserted: move the sequences past them
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
        t = time.perf_counter()
        conn.execute(text("VACUUM ANALYZE"))
        print(f"  vacuum analyze {time.perf_counter() - t:6.1f} s")
        counts = {t_: conn.scalar(text(f"SELECT count(*) FROM {t_}")) for t_ in big}
        size = conn.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    engine.dispose()
    print(f"corpus built in {time.perf_counter() - started:.0f} s: {json.dumps(counts)}; database {size}")


# -- load --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenarios(url: str) -> list[tuple[str, str]]:
    """(name, path?query) pairs: typical filtered listings, ranked search, deep pages, one figure."""
    from api.pagination import encode_cursor, query_hash
    from store.filters import FigureFilter

    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SET jit = off"))
        journal = conn.scalar(text("SELECT journal FROM articles GROUP BY journal ORDER BY count(*) DESC "
                                   "OFFSET 5 LIMIT 1"))
        n = conn.scalar(text("SELECT max(id) FROM figures"))
        # search words by how many captions hold them (from a 1 % sample): a specific one (~0.2 % of
        # the figures) and a broad one (~2 %); real words only, not bare stems
        vocab = set(vocabulary())
        stats = conn.execute(text(
            "SELECT word, ndoc FROM ts_stat('SELECT caption_tsv FROM figures TABLESAMPLE SYSTEM (1) REPEATABLE (7)')"
        )).all()
        sample = conn.scalar(text("SELECT count(*) FROM figures TABLESAMPLE SYSTEM (1) REPEATABLE (7)")) or 1
        words = [(w, d / sample) for w, d in stats if w in vocab]

        def near(share: float) -> str:
            return min(words, key=lambda wd: abs(wd[1] - share))[0]

        rare, common = near(0.002), near(0.02)
        deep_rank = conn.execute(text(
            "SELECT ts_rank_cd(caption_tsv, q)::float8 AS r, id FROM figures, "
            "websearch_to_tsquery('english', :w) q WHERE caption_tsv @@ q ORDER BY 1 DESC, 2 LIMIT 1 OFFSET 1000"
        ), {"w": common}).first()
    engine.dispose()
    deep = encode_cursor((int(n * 0.95),), query_hash("figures", FigureFilter()))
    jq = journal.replace(" ", "%20")
    out = [
        ("HTTP floor: /healthz (no SQL)", "/healthz"),
        ("first page, no filter", "/figures?limit=50"),
        ("licence + year", "/figures?license=commercial&year_from=2018&limit=50"),
        ("journal + year range", f"/figures?journal={jq}&year_from=2005&year_to=2020&limit=50"),
        ("modality (parent) + min width", "/figures?modality=radiology&min_width=1000&limit=50"),
        ("compound, ≥4 panels, cited", "/figures?compound=true&min_panels=4&has_citances=true&limit=50"),
        ("concept", "/figures?concept=D000002&limit=50"),
        (f"q rare word ({rare})", f"/figures?q={rare}&limit=20"),
        (f"q + licence + year ({rare})", f"/figures?q={rare}&license=commercial&year_from=2010&limit=20"),
        (f"q common word ({common})", f"/figures?q={common}&limit=20"),
        ("deep page (keyset, id > 95 %)", f"/figures?limit=50&cursor={deep}"),
        ("panels by modality", "/subfigures?modality=microscopy&limit=50"),
        ("one figure (detail)", f"/figures/{n // 2}"),
        ("concept autocomplete", "/concepts?prefix=cel&limit=10"),
    ]
    if deep_rank is not None:
        deep_q = encode_cursor((deep_rank.r, deep_rank.id), query_hash("figures", FigureFilter(q=common)))
        out.insert(10, (f"deep ranked page (q={common}, after the 1000th)", f"/figures?q={common}&limit=20&cursor={deep_q}"))
    return out


def capture_sql(url: str, path: str) -> list[tuple[str, dict]]:
    """The statements the API runs for `path` (in-process, same code), to replay them bare."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from api.app import create_app
    from store.db import get_engine

    captured: list[tuple[str, dict]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SET", "SELECT 1")):
            captured.append((statement, dict(parameters or {})))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", grab)
    try:
        with TestClient(create_app()) as client:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    return captured


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the processes in a process group (the server and its workers)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp … utime (12) stime (13)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


LATENCY_BUDGET_S = 20.0  # per series: slow scenarios stop after this, with at least MIN_SAMPLES
MIN_SAMPLES = 30


def _enough(times: list[float], n: int, started: float) -> bool:
    return len(times) >= n or (len(times) >= MIN_SAMPLES and time.perf_counter() - started > LATENCY_BUDGET_S)


def bare_latency(conninfo: str, statements: list[tuple[str, dict]], n: int) -> list[float]:
    import psycopg

    times: list[float] = []
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")  # as on the API's connections (api.deps)
        cur.execute("SET plan_cache_mode = force_custom_plan")
        for i in range(n + 10):
            t = time.perf_counter()
            for sql, params in statements:
                cur.execute(sql, params, prepare=True)
                cur.fetchall()
            if i >= 10:  # after the warm-up: statements prepared, like the API's pooled connections
                times.append(time.perf_counter() - t)
            if _enough(times, n, started):
                break
    return times


def api_latency(base: str, path: str, n: int) -> list[float]:
    import httpx

    times: list[float] = []
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(n + 10):
            t = time.perf_counter()
            r = client.get(path)
            r.raise_for_status()
            if i >= 10:
                times.append(time.perf_counter() - t)
            if _enough(times, n, started):
                break
    return times


def pgbench_tps(conninfo: str, statements: list[tuple[str, dict]], seconds: int, clients: int) -> float | None:
    import psycopg

    if not shutil.which("pgbench"):
        return None
    with psycopg.ClientCursor(psycopg.connect(conninfo)) as cur:
        lines = [" ".join(cur.mogrify(sql, params).split()) + ";" for sql, params in statements]
    url = make_url(conninfo)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
        script = fh.name
    cmd = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(seconds), "-f", script,
           "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
           url.database]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PGOPTIONS": "-c jit=off -c plan_cache_mode=force_custom_plan"})
    os.unlink(script)
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    if not m:
        print(out.stdout[-500:], out.stderr[-500:])
    return float(m.group(1)) if m else None


def wrk_rps(base: str, path: str, seconds: int, clients: int) -> tuple[float | None, str]:
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", base + path],
                             capture_output=True, text=True).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if errors:
            print(f"    wrk: {errors.group(1)} non-2xx responses")
        return (float(m.group(1)) if m else None), "wrk"
    return _httpx_rps(base, path, seconds, clients), "httpx"


def _httpx_rps(base: str, path: str, seconds: int, clients: int) -> float:
    import asyncio

    import httpx

    async def worker(client, deadline, counter):
        while time.perf_counter() < deadline:
            (await client.get(path)).raise_for_status()
            counter[0] += 1

    async def main():
        counter = [0]
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            start = time.perf_counter()
            await asyncio.gather(*(worker(client, start + seconds, counter) for _ in range(clients)))
            return counter[0] / (time.perf_counter() - start)

    return asyncio.run(main())


def run(seconds: int, n_requests: int, clients: int, workers: int, only: str | None) -> None:
    url = bench_url()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("FIGMINE_HOME", tempfile.mkdtemp(prefix="figmine-apibench-"))
    from store.db import reset_caches

    reset_caches()
    engine = create_engine(url)
    with engine.connect() as conn:
        n_fig = conn.scalar(text("SELECT count(*) FROM figures"))
    engine.dispose()
    if not n_fig:
        sys.exit("no corpus: run `python bench/api_bench.py generate` first")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(Path(tempfile.gettempdir()) / "figmine-apibench-server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-c", f"from api.app import serve; serve('127.0.0.1', {port}, workers={workers})"],
        cwd=ROOT, env={**os.environ}, stdout=log, stderr=log, start_new_session=True,
    )
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            sys.exit("the API server did not start (see figmine-apibench-server.log)")
        loop = "uvloop" if _has("uvloop") else "asyncio"
        http = "httptools" if _has("httptools") else "h11"
        print(f"corpus: {n_fig:,} figures; API: uvicorn {workers} worker(s), {loop}/{http}; "
              f"load: {clients} connections, {seconds} s; latency: {n_requests} sequential requests; "
              f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        rows = []
        for name, path in scenarios(url):
            if only and not any(part.strip() and part.strip() in name for part in only.split(",")):
                continue
            statements = capture_sql(url, path)
            bare = bare_latency(conninfo, statements, n_requests) if statements else None
            cpu = group_cpu_seconds(server.pid)
            api = api_latency(base, path, n_requests)
            cpu_ms = (group_cpu_seconds(server.pid) - cpu) / (len(api) + 10) * 1000  # warm-ups included
            tps = pgbench_tps(conninfo, statements, seconds, clients) if statements else None
            rps, tool = wrk_rps(base, path, seconds, clients)
            body = httpx.get(base + path).json()
            n_items = len(body["items"]) if isinstance(body, dict) and "items" in body else \
                len(body) if isinstance(body, list) else 1
            row = dict(name=name, path=path, statements=len(statements), items=n_items, samples=len(api),
                       load=round(os.getloadavg()[0], 1),
                       bare_p50=percentile(bare, 0.5) * 1000 if bare else None,
                       bare_p95=percentile(bare, 0.95) * 1000 if bare else None,
                       api_p50=percentile(api, 0.5) * 1000, api_p95=percentile(api, 0.95) * 1000,
                       api_cpu_ms=round(cpu_ms, 2), bare_tps=tps, api_rps=rps, tool=tool)
            rows.append(row)
            print(json.dumps(row), flush=True)
        print()
        print("| scenario | SQL stmts | bare p50 / p95 ms | API p50 / p95 ms | API ÷ bare (p50) | API CPU ms/req | "
              f"bare q/s (pgbench c{clients}) | API req/s ({rows[0]['tool'] if rows else 'wrk'} c{clients}) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            bare = f"{r['bare_p50']:.2f} / {r['bare_p95']:.2f}" if r["bare_p50"] else "—"
            ratio = f"{r['api_p50'] / r['bare_p50']:.1f}×" if r["bare_p50"] else "—"
            tps = f"{r['bare_tps']:.0f}" if r["bare_tps"] else "—"
            print(f"| {r['name']} | {r['statements']} | {bare} | {r['api_p50']:.2f} / {r['api_p95']:.2f} | {ratio} | "
                  f"{r['api_cpu_ms']:.2f} | {tps} | {r['api_rps'] or 0:.0f} |")
        print()
        for r in rows:
            print(f"- {r['name']}: `{r['path']}`")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="build the synthetic corpus")
    g.add_argument("--figures", type=int, default=1_000_000)
    g.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database")
    r = sub.add_parser("run", help="measure the API beside the bare SQL")
    r.add_argument("--seconds", type=int, default=8, help="length of each throughput run")
    r.add_argument("--requests", type=int, default=200, help="sequential requests for the latency percentiles")
    r.add_argument("--connections", type=int, default=8)
    r.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    r.add_argument("--only", help="run the scenarios whose names contain one of these (comma-separated)")
    for p_ in (g, r):
        p_.add_argument("--db", default=DB_NAME, help="the bench database (created by generate)")
    args = ap.parse_args()
    use_database(args.db)
    if args.command == "generate":
        generate(args.figures, args.fresh)
    else:
        run(args.seconds, args.requests, args.connections, args.workers, args.only)


if __name__ == "__main__":
    main()
