"""Peak memory of hostile images (issue 11, item 8): this tree beside the code before the change.

    python bench/image_memory_bench.py --base REV     # REV: the commit to compare with (a git worktree)

Inputs, generated into a temporary folder with libvips (which never holds them whole):
- `huge.png`: a 14,142² RGB drawing, ~1 MB of PNG, 600 MB of pixels (the review's 612 KB PNG);
- `huge.jpg`: the same drawing as a 14,142² baseline JPEG;
- `bigpage.pdf`: a ~1 KB PDF whose one page is 7,340 points square, a vector drawing over it and a
  "Figure 1." caption (234 megapixels at the extractor's 150 dpi);
- a normal figure: the largest JPEG of the real OA package pmc2924383 (tests/fixtures/packages).

Cases, each in a fresh Python process (peak RSS = `ru_maxrss` of that child, from `os.wait4`):
- ingest of one image: `pipeline.prepare.Preparer._load`, what `figmine ingest` runs per figure file;
- PDF figures: `Preparer._figures_from_pdf` (extraction + loading what it found), as ingest runs it;
- detection: `Detector().detect` on the huge PNG (the detector warmed on one real figure first);
- thumbnails: a real `figmine serve` (uvicorn) on loopback over a scratch PostgreSQL database whose
  one figure is `huge.png`; two concurrent requests (`max_side` 320 and 1600: the gallery and the
  figure page), then two more (300 and 1500). The server's RSS after start-up is given too.

Each case runs against both trees; the same interpreter and packages, only `sys.path[0]` differs.
DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) names the server for the scratch
databases. Prints a Markdown table (for bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HUGE = 14_142
PAGE_PT = 7_340  # × 150/72 = 15,292 px a side: 234 megapixels
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


# -- inputs ----------------------------------------------------------------------------------------
def make_inputs(folder: Path) -> dict[str, Path]:
    import pymupdf
    import pyvips

    xy = pyvips.Image.xyz(HUGE, HUGE)
    ink = ((xy[0] % 1000) < 12) | ((xy[1] % 1000) < 12)
    grey = ink.ifthenelse(30, 255)
    blue = (xy[0] < HUGE // 2).ifthenelse(grey, 255)
    drawing = grey.bandjoin([grey, blue]).cast("uchar").copy(interpretation="srgb")
    paths = {"huge.png": folder / "huge.png", "huge.jpg": folder / "huge.jpg", "bigpage.pdf": folder / "bigpage.pdf"}
    drawing.pngsave(str(paths["huge.png"]), compression=9)
    drawing.jpegsave(str(paths["huge.jpg"]), Q=85)

    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_PT, height=PAGE_PT)
    shape = page.new_shape()
    for k in range(0, PAGE_PT - 200, 500):  # a chart: axes and bars over the whole page
        shape.draw_rect(pymupdf.Rect(60 + k, 400 + k // 2, 300 + k, PAGE_PT - 200))
    shape.draw_line((50, 50), (50, PAGE_PT - 190))
    shape.draw_line((50, PAGE_PT - 190), (PAGE_PT - 50, PAGE_PT - 190))
    shape.finish(color=(0, 0, 0), fill=(0.3, 0.5, 0.8), width=2)
    shape.commit()
    page.insert_text((60, PAGE_PT - 120), "Figure 1. A chart drawn over the whole page.", fontsize=24)
    doc.save(str(paths["bigpage.pdf"]), garbage=4, deflate=True)
    doc.close()

    with tarfile.open(ROOT / "tests" / "fixtures" / "packages" / "pmc2924383.tar.gz") as tar:
        member = max((m for m in tar.getmembers() if m.name.endswith(".jpg")), key=lambda m: m.size)
        paths["normal.jpg"] = folder / "normal.jpg"
        paths["normal.jpg"].write_bytes(tar.extractfile(member).read())
    return paths


# -- children ----------------------------------------------------------------------------------------
def child(case: str, tree: str, path: str, scratch: str) -> None:
    """Runs in the measured process: imports from `tree`, does one case, prints a JSON line."""
    sys.path.insert(0, tree)
    import resource

    from harvester.records import ParsedFigure
    from pipeline.prepare import PreparedFigure, Preparer
    from store.blobs import LocalBlobStore

    preparer = Preparer(LocalBlobStore(scratch), max_image_pixels=200_000_000)
    if case == "detect":
        from subfigure_detector.detect import Detector

        detector = Detector()  # the shipped weights on ONNX Runtime, as `figmine detect` runs
        detector.detect([ROOT / "tests" / "fixtures" / "compound-figures" / "gold-dev" / "images"
                         / "oa_pkg__pmc2924383__pone.0012255.g004.jpg"])

    started = _vm_rss_mb(os.getpid())  # now, after the imports
    imports_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # importing peaks higher
    t0 = time.perf_counter()
    if case == "detect":
        found = detector.detect([Path(path)])[0]
        result = found.error or f"{found.width}x{found.height}, {len(found.panels)} panels"
    elif case == "pdf":
        figure = PreparedFigure(parsed=ParsedFigure("f1", "Figure 1", None, "", None, []), images=[])
        warnings: list[str] = []
        preparer._figures_from_pdf(Path(path), [figure], warnings)
        image = figure.images[0] if figure.images else None
        result = warnings[0] if warnings else (f"{image.width}x{image.height}" if image and image.key else
                                               (image.error if image else "no figure"))
    else:
        image = preparer._load("fig", Path(path).name, Path(path))
        result = f"{image.width}x{image.height}" if image.key else f"error: {image.error}"
    print(json.dumps({"result": result, "imports_mb": started, "imports_peak_mb": imports_peak,
                      "seconds": time.perf_counter() - t0}), flush=True)


def run_child(case: str, tree: Path, path: Path, scratch: Path) -> dict:
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", case, "--tree", str(tree), "--input", str(path),
             "--scratch", str(scratch)],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
        )
        out = proc.stdout.read()
        usage = _reap(proc)
        err.seek(0)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            raise RuntimeError(f"{case} on {tree} failed:\n{err.read()[-3000:]}")
    answer = json.loads(lines[-1])
    answer["peak_mb"] = usage.ru_maxrss / 1024
    return answer


def _reap(proc: subprocess.Popen):
    """Wait for the child ourselves: os.wait4 gives its own rusage (ru_maxrss: its peak RSS)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage


# -- thumbnails: a real server -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scratch_db(admin: str, tree: Path) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"figmine_imgmem_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    # the tree's own migrations
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); "
                    f"from store.migrate import upgrade; upgrade({url!r})"], check=True, cwd=tree,
                   env={**os.environ, "PYTHONPATH": str(tree)})
    return url


def _drop_db(admin: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _one_figure(url: str, blob_key: str, sha: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        article = conn.execute(text(
            "INSERT INTO articles (article_key, source, xml_sha256, content_hash) "
            "VALUES ('PMCBENCH', 'local', :sha, :sha) RETURNING id"), {"sha": sha}).scalar_one()
        figure = conn.execute(text(
            "INSERT INTO figures (article_id, ordinal, label, caption_text, image_key, image_format, width, height, "
            "sha256) VALUES (:a, 0, 'Figure 1', 'A hostile figure.', :key, 'PNG', :n, :n, :sha) RETURNING id"),
            {"a": article, "key": blob_key, "n": HUGE, "sha": sha}).scalar_one()
    engine.dispose()
    return figure


def _get(url: str, out: dict, key: str) -> None:
    import httpx

    t0 = time.perf_counter()
    r = httpx.get(url, timeout=600)
    out[key] = (r.status_code, len(r.content), time.perf_counter() - t0)


def thumbnails(tree: Path, png: Path, admin: str, home: Path) -> dict:
    import hashlib

    from sqlalchemy.engine import make_url

    sys.path.insert(0, str(ROOT))
    from store.blobs import LocalBlobStore

    home.mkdir(parents=True, exist_ok=True)
    blobs = LocalBlobStore(home / "blobs")
    key = blobs.put_file(png)
    sha = hashlib.sha256(png.read_bytes()).hexdigest()
    url = _scratch_db(admin, tree)
    try:
        figure = _one_figure(url, key, sha)
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(tree), "DATABASE_URL": make_url(url).render_as_string(False),
               "FIGMINE_HOME": str(home), "FIGMINE_BLOB_URL": str(home / "blobs"), "FIGMINE_API_READ_OPEN": "true"}
        log = (home / "serve.log").open("w+")
        server = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); from figmine.cli import app; app()",
             "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tree, env=env, stdout=log, stderr=log, text=True)
        base = f"http://127.0.0.1:{port}"
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"{base}/browse/static/browse.js", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                break
            time.sleep(0.2)
        else:
            server.kill()
            log.seek(0)
            raise RuntimeError(f"figmine serve did not start:\n{log.read()[-3000:]}")
        idle = _vm_rss_mb(server.pid)
        answers: dict = {}
        t0 = time.perf_counter()
        for wave in ((320, 1600), (300, 1500)):
            threads = [threading.Thread(target=_get, args=(f"{base}/browse/figures/{figure}/thumbnail?max_side={side}",
                                                             answers, side)) for side in wave]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        seconds = time.perf_counter() - t0
        server.terminate()
        usage = _reap(server)
        statuses = sorted({v[0] for v in answers.values()})
        return {"result": f"HTTP {statuses}, " + ", ".join(f"{k}→{v[1] // 1024} KB" for k, v in sorted(answers.items())),
                "imports_mb": idle, "imports_peak_mb": None, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}
    finally:
        _drop_db(admin, url)


def _vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- main ----------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=False, help="git revision of the code before (checked out as a worktree)")
    ap.add_argument("--only", help="cases whose names contain this")
    ap.add_argument("--child")
    ap.add_argument("--make-inputs")
    ap.add_argument("--tree")
    ap.add_argument("--input")
    ap.add_argument("--scratch")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.tree, args.input, args.scratch)
        return
    if args.make_inputs:
        print(json.dumps({name: str(path) for name, path in make_inputs(Path(args.make_inputs)).items()}))
        return

    from store.db import to_sqlalchemy_url

    admin = to_sqlalchemy_url(os.environ.get("DATABASE_URL") or DEFAULT_ADMIN)
    work = Path(tempfile.mkdtemp(prefix="figmine-imgmem-"))
    trees = [("this tree", ROOT)]
    if args.base:
        base_dir = work / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_dir), args.base],
                       check=True, capture_output=True)
        trees.append((f"before ({args.base[:10]})", base_dir))
    try:
        t0 = time.perf_counter()
        # In a child: Linux hands a process's peak RSS on to the children it starts (exec keeps the
        # larger of the two), so this process stays small and every measure starts from its ~50 MB.
        made = subprocess.run([sys.executable, __file__, "--make-inputs", str(work)], check=True,
                              capture_output=True, text=True)
        inputs = {name: Path(path) for name, path in json.loads(made.stdout.splitlines()[-1]).items()}
        sizes = {name: path.stat().st_size for name, path in inputs.items()}
        print(f"inputs made in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{n} {s / 1024:.0f} KB" for n, s in sizes.items()), file=sys.stderr)
        cases = [
            ("ingest: a real PLoS figure (JPEG, 0.4 Mpx)", "image", inputs["normal.jpg"]),
            ("ingest: 14,142² PNG", "image", inputs["huge.png"]),
            ("ingest: 14,142² baseline JPEG", "image", inputs["huge.jpg"]),
            ("ingest: PDF figures, 7,340-pt page", "pdf", inputs["bigpage.pdf"]),
            ("detect: the 14,142² PNG (shipped weights, ONNX Runtime)", "detect", inputs["huge.png"]),
            ("serve: 2 + 2 concurrent thumbnails of the 14,142² PNG", "thumbnails", inputs["huge.png"]),
        ]
        rows = []
        for title, case, path in cases:
            if args.only and args.only not in title:
                continue
            measured = []
            for label, tree in trees:
                scratch = work / f"scratch-{uuid.uuid4().hex[:6]}"
                if case == "thumbnails":
                    m = thumbnails(tree, path, admin, scratch)
                else:
                    m = run_child(case, tree, path, scratch)
                measured.append((label, m))
                print(f"{title} [{label}]: {m}", file=sys.stderr)
            rows.append((title, measured))
        print("| case | code | peak RSS | RSS before the case (its peak so far) | seconds | result |")
        print("| --- | --- | ---: | ---: | ---: | --- |")
        for title, measured in rows:
            for label, m in measured:
                so_far = f" ({m['imports_peak_mb']:.0f} MB)" if m.get("imports_peak_mb") else ""
                print(f"| {title} | {label} | **{m['peak_mb']:.0f} MB** | {m['imports_mb']:.0f} MB{so_far} | "
                      f"{m['seconds']:.2f} | {m['result'][:110]} |")
    finally:
        if args.base:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "base")],
                           capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
