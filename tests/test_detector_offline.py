"""The detector's Ultralytics steps open no network connection.

A child process (audit hooks cannot be removed, so the test's own process stays clean) installs
an audit hook that records every `socket.connect`, `socket.getaddrinfo`, `socket.gethostbyname`
and `urllib.Request` event, configures Ultralytics with `subfigure_detector.offline.configure()`,
generates 8+2 tiny synthetic figures, trains yolo11n for one epoch, validates, predicts and
exports ONNX. Any event aimed at something other than loopback or a Unix socket fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ultralytics")
pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import ipaddress, json, socket, sys
    from pathlib import Path

    events = []

    def remote(args):
        for a in args:
            host = a[0] if isinstance(a, tuple) and a else a
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if not isinstance(host, str) or host.startswith("/") or host == "":
                continue  # Unix socket path or no host
            if host in ("localhost",):
                continue
            try:
                if ipaddress.ip_address(host).is_loopback:
                    continue
            except ValueError:
                pass
            return True
        return False

    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
            events.append({"event": event, "args": repr(args)[:200], "remote": event == "urllib.Request" or remote(args)})

    sys.addaudithook(hook)
    work = Path(sys.argv[1])
    from subfigure_detector.offline import TRAIN_OVERRIDES, configure

    cfg = configure()
    assert configure() == cfg, "configure() is not idempotent"
    fonts = [(cfg / "Ultralytics" / f).exists() for f in ("Arial.ttf", "Arial.Unicode.ttf")]

    from subfigure_detector.synth.dataset import Recipe, generate_dataset

    data = generate_dataset(work / "data", Recipe(seed=0, n_train=8, n_val=2, n_charts=6, n_procedural=4,
                                                  width_range=(200, 320)), workers=1)
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.train(data=str(data), epochs=1, imgsz=64, batch=4, device="cpu", workers=0, project=str(work / "runs"),
                name="t", exist_ok=True, mosaic=0.0, verbose=False, **TRAIN_OVERRIDES)
    best = Path(model.trainer.best)
    trained = YOLO(str(best))
    metrics = trained.val(data=str(data), imgsz=64, batch=4, device="cpu", workers=0, project=str(work / "runs"),
                          name="v", exist_ok=True, plots=False, verbose=False)
    preds = trained.predict(str(work / "data" / "images" / "val"), imgsz=64, device="cpu", verbose=False)
    onnx_path = trained.export(format="onnx", imgsz=64, dynamic=False, simplify=False, opset=17, device="cpu")
    onnx_preds = YOLO(onnx_path, task="detect").predict(str(work / "data" / "images" / "val"), imgsz=64,
                                                        device="cpu", verbose=False)
    print("RESULT " + json.dumps({
        "events": events, "fonts": fonts, "config_dir": str(cfg), "best": str(best), "onnx": str(onnx_path),
        "n_preds": len(preds), "n_onnx_preds": len(onnx_preds), "map50": float(metrics.box.map50),
    }))
    """
)


def test_train_val_predict_export_open_no_socket(tmp_path: Path) -> None:
    env = {**os.environ, "FIGMINE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    for key in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL"):
        env.pop(key, None)  # the child must set these itself
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=280)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    remote = [e for e in result["events"] if e["remote"]]
    assert not remote, f"network access attempted: {remote}"
    assert all(result["fonts"]), "Arial.ttf / Arial.Unicode.ttf were not placed in the config dir"
    assert Path(result["config_dir"]).is_relative_to(tmp_path / "home"), result["config_dir"]
    assert Path(result["best"]).exists() and Path(result["onnx"]).exists()
    assert result["n_preds"] == 2 and result["n_onnx_preds"] == 2
