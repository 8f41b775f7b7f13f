"""Subfigure detection speed: figures per second end to end and the detector process's memory.

End to end = read the file, decode (harvester.images.load_image), detect (YOLO or XY-cut), post-process,
read labels, map boxes back - `Detector.detect` on file paths, in batches of 8. Each configuration
runs in a fresh process (so its peak RSS is its own), on the real gold-dev figures (and the EXSCLAIM
ones), repeated to `--figures` figures, after one warm-up batch. A second table times the YOLO model
alone (letterbox + inference + NMS) per backend and input size, on the installed weights or, with
`--random-yolo`, on an untrained yolo11n exported at that size (the cost does not depend on weights).

CPU s/figure is the detector process's CPU time (all its threads) per figure: on a shared machine it is
the steadier number; the 1-minute load average at the end of each run is printed beside it.

    python bench/detect_bench.py [--figures 120] [--threads 2] [--configs xycut xycut-nolabels yolo-onnx yolo-torch]
                                 [--random-yolo 320 640]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOLD_DIR = Path("/work/shared/fixtures/compound-figures/gold-dev")
FALLBACK_GOLD = ROOT / "tests" / "fixtures" / "compound-figures" / "gold-dev"
CONFIGS = {
    "xycut": dict(method="xycut"),
    "xycut-nolabels": dict(method="xycut", label_reader="none"),
    "xycut-blob": dict(method="xycut", corner_search="blob"),
    "yolo-onnx-blob": dict(method="yolo", backend="onnx", corner_search="blob"),
    "yolo-onnx": dict(method="yolo", backend="onnx"),
    "yolo-onnx-rapidocr": dict(method="yolo", backend="onnx", label_reader="rapidocr"),
    "yolo-onnx-classifier": dict(method="yolo", backend="onnx", label_reader="classifier"),
    "yolo-torch": dict(method="yolo", backend="torch"),
    "yolo-onnx-no-second-opinion": dict(method="yolo", backend="onnx", second_opinion=False),
    "yolo-onnx-nolabels": dict(method="yolo", backend="onnx", label_reader="none", second_opinion=False),
}


def figure_paths() -> list[str]:
    from subfigure_detector.evaluate import load_gold

    gold_dir = GOLD_DIR if GOLD_DIR.is_dir() else FALLBACK_GOLD
    paths = []
    for name in ("gold.json", "gold-soda.json", "gold-exsclaim.json"):
        if (gold_dir / name).is_file():
            paths += [f.image for f in load_gold(gold_dir / name) if Path(f.image).is_file()]
    return paths


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def worker(config: str, n: int, threads: int, weights: str | None) -> dict:
    from subfigure_detector.detect import Detector

    kwargs = dict(CONFIGS[config])
    det = Detector(weights_dir=weights, threads=threads, **kwargs)
    paths = figure_paths()
    work = [paths[i % len(paths)] for i in range(n)]
    det.detect(work[:8])  # warm-up: model loading, first inference
    t0, c0 = time.perf_counter(), time.process_time()
    results = det.detect(work)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    methods: dict[str, int] = {}
    for r in results:
        methods[r.method or "none"] = methods.get(r.method or "none", 0) + 1
    return {"config": config, "detector": det.describe(), "figures": n, "wall_s": round(wall, 2),
            "load_avg_1min": round(os.getloadavg()[0], 1),
            "figures_per_s": round(n / wall, 2), "cpu_s_per_figure": round(cpu / n, 4),
            "peak_rss_mb": round(rss_mb(), 1), "errors": sum(1 for r in results if r.error), "methods": methods}


def model_only(weights_dir: Path, backend: str, threads: int, n: int = 48) -> dict:
    import numpy as np

    from harvester.images import load_image
    from subfigure_detector.detect import load_yolo

    model = load_yolo(weights_dir, backend, threads=threads)
    images = [np.asarray(load_image(p).rgb) for p in figure_paths()[:16]]
    model.predict(images[:8], 0.25, 0.5)
    out = {}
    for batch in (1, 8):
        t0 = time.perf_counter()
        done = 0
        while done < n:
            chunk = [images[(done + j) % len(images)] for j in range(batch)]
            model.predict(chunk, 0.25, 0.5)
            done += batch
        out[f"ms_per_figure_batch{batch}"] = round(1000 * (time.perf_counter() - t0) / done, 1)
    return {"backend": backend, "device": model.device, "imgsz": model.imgsz, **out, "peak_rss_mb": round(rss_mb(), 1)}


def export_random_yolo(imgsz: int, dest: Path) -> Path:
    """An untrained two-class yolo11n, saved as best.pt + best.onnx at `imgsz`, with its model.json."""
    os.environ.setdefault("FIGMINE_HOME", str(dest / "home"))
    from subfigure_detector.offline import configure

    configure()
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    dest.mkdir(parents=True, exist_ok=True)
    model = DetectionModel("yolo11n.yaml", nc=2, verbose=False)
    model.names = {0: "panel", 1: "label"}
    torch.save({"model": model, "train_args": {"imgsz": imgsz, "task": "detect"}, "date": None,
                "version": None}, dest / "best.pt")
    onnx = YOLO(str(dest / "best.pt"), task="detect").export(format="onnx", imgsz=imgsz, simplify=False, verbose=False)
    Path(onnx).replace(dest / "best.onnx")
    (dest / "model.json").write_text(json.dumps({"imgsz": imgsz, "classes": ["panel", "label"]}))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--weights", default=None, help="weights folder (default subfigure_detector/weights)")
    ap.add_argument("--random-yolo", nargs="*", type=int, default=[], help="also time untrained yolo11n at these sizes")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-only", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.figures, args.threads, args.weights)))
        return
    if args.model_only:
        print(json.dumps(model_only(Path(args.model_only[0]), args.model_only[1], args.threads)))
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"figures: {len(figure_paths())} distinct, {args.figures} per run; threads {args.threads}; "
          f"cpus {os.cpu_count()}")
    print("| config | detector | figures/s (wall) | CPU s/figure | peak RSS MB | load avg | methods |")
    print("|---|---|---|---|---|---|---|")
    for config in args.configs:
        cmd = [sys.executable, __file__, "--worker", config, "--figures", str(args.figures), "--threads", str(args.threads)]
        if args.weights:
            cmd += ["--weights", args.weights]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        if proc.returncode or not lines:
            print(f"| {config} | failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:120]} | | | | | |")
            continue
        r = json.loads(lines[-1])
        print(f"| {config} | {r['detector']} | {r['figures_per_s']} | {r['cpu_s_per_figure']} | {r['peak_rss_mb']} "
              f"| {r['load_avg_1min']} | {r['methods']} |", flush=True)

    weights_dirs = []
    default_weights = Path(args.weights) if args.weights else ROOT / "subfigure_detector" / "weights"
    if (default_weights / "model.json").is_file():
        weights_dirs.append(("installed", default_weights))
    tmp = Path(tempfile.mkdtemp(prefix="detect_bench_"))
    for size in args.random_yolo:
        weights_dirs.append((f"untrained {size}", export_random_yolo(size, tmp / f"yolo{size}")))
    if weights_dirs:
        print("\n| weights | backend | imgsz | ms/figure (batch 1) | ms/figure (batch 8) | peak RSS MB |")
        print("|---|---|---|---|---|---|")
    for name, wdir in weights_dirs:
        for backend in ("onnx", "torch"):
            cmd = [sys.executable, __file__, "--model-only", str(wdir), backend, "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
            if proc.returncode or not lines:
                print(f"| {name} | {backend} | failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:100]} | | | |")
                continue
            r = json.loads(lines[-1])
            print(f"| {name} | {backend} ({r['device']}) | {r['imgsz']} | {r['ms_per_figure_batch1']} "
                  f"| {r['ms_per_figure_batch8']} | {r['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
