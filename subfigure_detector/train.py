"""Train the subfigure detector (YOLO11n, classes panel/label) on synthetic compound figures.

The model is built from `yolo11n.yaml` (random weights: nothing can be downloaded) and trained
offline (see `offline.py`). Augmentations suit compound figures: no mosaic (a figure already is
a mosaic; tiling whole figures would teach wrong layouts), no flips (letters would mirror), mild
scale/translate, colour jitter on. After each improving epoch the current best checkpoint is
stripped of optimizer state and copied into the shipped weights folder, so an interrupted run
still leaves a usable model; at the end it is exported to ONNX and a model card is written.

    python -m subfigure_detector.train --data /work/detector-data/v1/data.yaml --imgsz 320 \
        --time-hours 1.5 --out /work/detector-runs
    python -m subfigure_detector.train --data ... --out /work/detector-runs --resume   # continue last.pt
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from subfigure_detector.offline import TRAIN_OVERRIDES, configure

WEIGHTS_DIR = Path(__file__).with_name("weights")
RUN_NAME = "detector"
CLASSES = ["panel", "label"]
ONNX_OPSET = 17  # runs on any onnxruntime >= 1.12; newer opsets gain nothing for this model

# Augmentation for compound figures (Ultralytics hyper-parameter names).
AUGMENT: dict[str, float] = {
    "mosaic": 0.0, "close_mosaic": 0, "mixup": 0.0, "copy_paste": 0.0,
    "fliplr": 0.0, "flipud": 0.0, "degrees": 0.0, "shear": 0.0, "perspective": 0.0,
    "scale": 0.25, "translate": 0.05, "hsv_h": 0.015, "hsv_s": 0.5, "hsv_v": 0.3,
}


def _metrics(trainer: Any) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in (trainer.metrics or {}).items()}


class _Shipper:
    """Copies each new best checkpoint (optimizer stripped) into `weights_dir` with a model.json."""

    def __init__(self, weights_dir: Path | None, info: dict[str, Any]) -> None:
        self.weights_dir = weights_dir
        self.info = info
        self.shipped_mtime = 0.0

    def __call__(self, trainer: Any) -> None:
        best = Path(trainer.best)
        if self.weights_dir is None or not best.exists() or best.stat().st_mtime <= self.shipped_mtime:
            return
        from ultralytics.utils.torch_utils import strip_optimizer

        self.shipped_mtime = best.stat().st_mtime
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.weights_dir / "best.pt.tmp"
        strip_optimizer(best, s=str(tmp))
        tmp.replace(self.weights_dir / "best.pt")  # atomic: readers never see half a file
        info = {**self.info, "epochs_done": trainer.epoch + 1, "epochs": trainer.epochs,
                "train_seconds": round(time.time() - trainer.train_time_start, 1),
                "metrics": _metrics(trainer), "status": "training"}
        write_model_json(self.weights_dir, info)
        write_model_card(self.weights_dir, info)


def write_model_json(weights_dir: Path, info: dict[str, Any]) -> Path:
    path = weights_dir / "model.json"
    path.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return path


def _recipe(data_yaml: Path) -> dict[str, Any]:
    f = data_yaml.parent / "recipe.json"
    return json.loads(f.read_text()) if f.exists() else {}


def _real_gold(data_yaml: Path) -> dict[str, Any] | None:
    """What `real_gold.add_real_gold` put into the training set (counts, not the file list), if anything."""
    f = data_yaml.parent / "real_gold.json"
    if not f.exists():
        return None
    return {k: v for k, v in json.loads(f.read_text()).items() if k != "images"}


def train(data_yaml: Path | str, *, epochs: int = 30, imgsz: int = 320, batch: int = 16, device: str = "cpu",
          resume: bool = False, out_dir: Path | str = "runs", seed: int = 0, time_hours: float | None = None,
          weights_dir: Path | None = WEIGHTS_DIR, cache: bool | str = "ram", patience: int = 100,
          export: bool = True, init: Path | str | None = None) -> Path:
    """Train (or resume) the detector; return the path of best.pt in the run folder.

    `time_hours` caps the wall-clock time (Ultralytics then re-plans the epoch count and learning
    rate schedule after each epoch). With `weights_dir`, the best checkpoint, its ONNX export,
    model.json and model_card.md are copied there. `init` starts a new run from existing weights
    (e.g. the shipped best.pt) instead of random ones; `resume` continues an interrupted run.
    """
    configure()
    from ultralytics import YOLO

    data_yaml = Path(data_yaml).resolve()
    out_dir = Path(out_dir).resolve()
    last = out_dir / RUN_NAME / "weights" / "last.pt"
    info = {"architecture": "yolo11n (from yolo11n.yaml, random init)", "imgsz": imgsz, "classes": CLASSES,
            "seed": seed, "device": device, "batch": batch, "augment": AUGMENT, "dataset_recipe": _recipe(data_yaml),
            "real_gold": _real_gold(data_yaml)}
    if resume:
        if not last.exists():
            raise FileNotFoundError(f"nothing to resume: {last} does not exist")
        model = YOLO(str(last))
    else:
        model = YOLO(str(init) if init else "yolo11n.yaml")
        if init:
            info["architecture"] = f"yolo11n, fine-tuned from {Path(init).name}"
    shipper = _Shipper(weights_dir, info)
    model.add_callback("on_model_save", shipper)
    t0 = time.time()
    if resume:
        model.train(resume=True, **TRAIN_OVERRIDES)
    else:
        model.train(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=0,
                    cache=cache, seed=seed, deterministic=True, project=str(out_dir), name=RUN_NAME,
                    exist_ok=True, patience=patience, warmup_epochs=1, time=time_hours, val=True,
                    verbose=True, **AUGMENT, **TRAIN_OVERRIDES)
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).exists() else Path(trainer.last)
    info.update(epochs=trainer.epochs, epochs_done=trainer.epoch + 1, train_seconds=round(time.time() - t0, 1),
                metrics=_metrics(trainer), status="finished")
    if weights_dir is not None:
        ship(best, weights_dir, info, export=export)
    return best


def ship(best: Path, weights_dir: Path, info: dict[str, Any], *, export: bool = True) -> None:
    """Copy best.pt (optimizer already stripped at the end of training), export ONNX, write card + json."""
    configure()
    weights_dir.mkdir(parents=True, exist_ok=True)
    if best.resolve() != (weights_dir / "best.pt").resolve():
        shutil.copyfile(best, weights_dir / "best.pt")
    if export:
        from ultralytics import YOLO

        onnx = YOLO(str(weights_dir / "best.pt")).export(format="onnx", imgsz=info["imgsz"], dynamic=False,
                                                          simplify=False, opset=ONNX_OPSET, device="cpu")
        if Path(onnx).resolve() != (weights_dir / "best.onnx").resolve():
            shutil.move(onnx, weights_dir / "best.onnx")
        info["onnx"] = {"file": "best.onnx", "opset": ONNX_OPSET, "input": [1, 3, info["imgsz"], info["imgsz"]]}
    write_model_json(weights_dir, info)
    write_model_card(weights_dir, info)


def ship_current(out_dir: Path | str, weights_dir: Path, data_yaml: Path | str) -> None:
    """Ship what a (possibly unfinished) run has: its best.pt stripped, ONNX, model.json, card."""
    configure()
    from ultralytics.utils.torch_utils import strip_optimizer

    best = Path(out_dir).resolve() / RUN_NAME / "weights" / "best.pt"
    src = best if best.exists() else weights_dir / "best.pt"
    model_json = weights_dir / "model.json"
    info = json.loads(model_json.read_text()) if model_json.exists() else {"imgsz": 320, "classes": CLASSES}
    info.setdefault("dataset_recipe", _recipe(Path(data_yaml).resolve()))
    info.setdefault("real_gold", _real_gold(Path(data_yaml).resolve()))
    weights_dir.mkdir(parents=True, exist_ok=True)
    tmp = weights_dir / "best.pt.tmp"
    strip_optimizer(src, s=str(tmp))
    tmp.replace(weights_dir / "best.pt")
    ship(weights_dir / "best.pt", weights_dir, info)


def write_model_card(weights_dir: Path, info: dict[str, Any]) -> Path:
    m = info.get("metrics", {})
    r = info.get("dataset_recipe", {})
    g = info.get("real_gold")
    real = (f"""
- Real figures: {g['figures']} hand-annotated figures of the gold-v2 **dev** split ({g['panels']} panels,
  {g['label_boxes']} label boxes), each {g['repeat']} times per epoch (`python -m subfigure_detector.real_gold`). The
  test split (`evaluate.gold_split`), the older gold (gold.json, gold-soda, gold-exsclaim) and figures
  marked difficult were never used, so they measure figures the model has not seen.""" if g else "")
    limits = ("the real figures are few beside the synthetic ones" if g else "trained on synthetic figures only")
    text = f"""# figmine subfigure detector

YOLO11n (Ultralytics, built from `yolo11n.yaml`; {info.get('architecture', 'trained from random weights')}), two classes:
`panel` (0) and `label` (1, the printed panel letter). Input {info['imgsz']}x{info['imgsz']} letterboxed.

- Files: `best.pt` (Ultralytics checkpoint), `best.onnx` (opset {ONNX_OPSET}, static input
  1x3x{info['imgsz']}x{info['imgsz']}, output 1x6xN: cx, cy, w, h, score(panel), score(label) in input pixels, no NMS),
  `model.json` (machine-readable copy of this card).
- Training data: {r.get('n_train', '?')} synthetic compound figures (+{r.get('n_val', '?')} validation), generator
  v{r.get('generator_version', '?')}, seed {r.get('seed', '?')}: real PMC layouts (PanelSeg/ImageCLEF boxes,
  {r.get('n_real_layouts', 0)} layouts) and procedural ones, filled with matplotlib charts, images bundled with
  scikit-image/matplotlib and procedural micrographs.{real}
  Regenerate (same bytes): `python -m subfigure_detector.synth.dataset --seed {r.get('seed', 0)} --train {r.get('n_train', '?')}
  --val {r.get('n_val', '?')} --charts {r.get('n_charts', 240)} --real-fraction {r.get('real_fraction', 0.7)} --out DIR`
  (with the layout CSVs at the default path; `recipe.json` beside the data has every setting).
- Training: {info.get('epochs_done', '?')} of {info.get('epochs', '?')} epochs{info.get('epochs_note', '')}, batch {info.get('batch')}, device {info.get('device')}
  (no GPU was lent to the sessions that trained it),
  {info.get('train_seconds', '?')} s, seed {info.get('seed')}; no mosaic, no flips, mild scale/translate, colour jitter.
- Synthetic validation metrics (not real figures): mAP50 {m.get('metrics/mAP50(B)', '?')},
  mAP50-95 {m.get('metrics/mAP50-95(B)', '?')}, precision {m.get('metrics/precision(B)', '?')},
  recall {m.get('metrics/recall(B)', '?')}. Status: {info.get('status', '?')}.
- Limits: {limits}, at a small input size on a CPU budget; labels are a few
  pixels tall at this input size, so read them again at full resolution. Evaluate on real figures
  (gold-dev) before trusting the numbers above.
- Licence: weights produced with Ultralytics (AGPL-3.0).
"""
    path = weights_dir / "model_card.md"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train the subfigure detector on a synthetic dataset.")
    ap.add_argument("--data", type=Path, required=True, help="data.yaml written by synth.dataset")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("runs"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-hours", type=float, default=None, help="wall-clock budget (re-plans epochs)")
    ap.add_argument("--resume", action="store_true", help="continue the run's last.pt")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights instead of random ones")
    ap.add_argument("--no-ship", action="store_true", help="do not copy weights into the package")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--ship-only", action="store_true",
                    help="no training: export the run's best.pt (or the shipped one) to ONNX and write the card")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.ship_only:
        ship_current(args.out, WEIGHTS_DIR, args.data)
        return
    best = train(args.data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=args.device,
                 resume=args.resume, out_dir=args.out, seed=args.seed, time_hours=args.time_hours,
                 weights_dir=None if args.no_ship else WEIGHTS_DIR, init=args.init)
    print(best)


if __name__ == "__main__":
    main()
