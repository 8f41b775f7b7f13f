"""The detector's Python API: any figure in, one result per image out, bad images included."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from subfigure_detector.detect import Detection, Detector, detect_command, letterbox, nms

GOLD_DIR = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-dev"
TWO_PANELS = GOLD_DIR / "images" / "oa_pkg__pmc2924383__pone.0012255.g002.jpg"  # A above B


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(method="xycut")


def two_photos(w=420, h=200, mode="RGB") -> Image.Image:
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([int(0.05 * w), int(0.1 * h), int(0.45 * w), int(0.9 * h)], fill=(30, 60, 120))
    d.rectangle([int(0.55 * w), int(0.1 * h), int(0.95 * w), int(0.9 * h)], fill=(120, 40, 40))
    return im.convert(mode) if mode != "RGB" else im


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_real_figure_panels_in_reading_order_with_labels(detector):
    det = detector.detect([TWO_PANELS])[0]
    assert det.error is None and (det.width, det.height) == (465, 783)
    assert len(det.panels) == 2 and det.panels[0].box[1] < det.panels[1].box[1], "top panel first"
    assert [p.label for p in det.panels] == ["A", "B"]
    assert all(p.method == "xycut" and 0 < p.score <= 1 for p in det.panels)
    d = det.to_dict()
    assert set(d) >= {"image", "width", "height", "panels"}
    assert set(d["panels"][0]) >= {"box", "score", "label", "label_box", "method", "label_score", "label_raw"}


def test_paths_bytes_and_pil_images_give_the_same_panels(detector):
    im = two_photos()
    results = detector.detect([im, encode(im, "PNG"), np.asarray(im)])
    assert [len(r.panels) for r in results] == [2, 2, 2]
    assert results[0].panels[0].box == results[1].panels[0].box == results[2].panels[0].box
    assert results[1].image == "<bytes #1>"


def test_a_figure_that_is_not_compound_is_one_whole_panel(detector):
    im = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(im).rectangle([20, 30, 280, 170], fill=(10, 90, 30))
    det = detector.detect([im])[0]
    assert [(p.box, p.method) for p in det.panels] == [((20, 30, 281, 171), "whole")]


def test_bad_images_get_their_own_result_and_the_batch_goes_on(detector):
    good = encode(two_photos(), "JPEG")
    frames = [two_photos(), two_photos().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    tiny = Image.new("RGB", (20, 12), "white")
    ImageDraw.Draw(tiny).rectangle([3, 3, 15, 8], fill="black")
    sixteen = Image.fromarray((np.asarray(two_photos().convert("L"), np.uint16) * 257).astype(np.uint16))
    inputs = {
        "empty": b"",
        "not an image": b"hello, not a picture",
        "truncated": good[: len(good) // 2],
        "tiny": encode(tiny, "PNG"),
        "blank": encode(Image.new("RGB", (200, 200), "white"), "PNG"),
        "animated": gif.getvalue(),
        "cmyk": encode(two_photos(mode="CMYK"), "JPEG"),
        "16-bit": encode(sixteen, "PNG"),
        "good": good,
    }
    results = dict(zip(inputs, detector.detect(list(inputs.values()))))
    assert len(results) == len(inputs)
    for name in ("empty", "not an image", "truncated"):
        assert results[name].error and not results[name].panels, name
    assert "empty" in results["empty"].error and "truncated" in results["truncated"].error
    assert results["tiny"].error is None and [p.method for p in results["tiny"].panels] == ["whole"]
    assert any("32 px" in w for w in results["tiny"].warnings)
    assert results["blank"].error is None and results["blank"].panels == [] and results["blank"].warnings
    assert len(results["animated"].panels) == 2 and any("frames" in w for w in results["animated"].warnings)
    for name in ("cmyk", "16-bit", "good"):
        assert results[name].error is None and len(results[name].panels) == 2, name


def test_decompression_bombs_are_refused_and_big_figures_mapped_back():
    det = Detector(method="xycut", label_reader="none", max_pixels=2_000_000)
    big = two_photos(3000, 1400)  # 4.2 Mpx: above this detector's limit
    small_limit = det.detect([encode(big, "PNG")])[0]
    assert small_limit.error and "bomb" in small_limit.error
    det = Detector(method="xycut", label_reader="none", max_pixels=50_000_000)
    res = det.detect([encode(big, "PNG")])[0]  # analysed on a downscaled copy
    assert (res.width, res.height) == (3000, 1400)
    boxes = [p.box for p in res.panels]
    want = [(150, 140, 1351, 1261), (1650, 140, 2851, 1261)]
    assert len(boxes) == 2
    for b, w in zip(boxes, want):
        assert max(abs(u - v) for u, v in zip(b, w)) <= 3, f"{b} is in original pixels ({w})"


def test_detect_command_prints_json_lines(capsys, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    errors = detect_command([str(TWO_PANELS), str(bad)], as_json=True, method="xycut")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert errors == 1 and len(lines) == 2
    assert lines[0]["image"] == str(TWO_PANELS) and len(lines[0]["panels"]) == 2
    assert lines[1]["error"]
    detect_command([str(TWO_PANELS)], method="xycut")
    assert "2 panel(s)" in capsys.readouterr().out


def test_method_yolo_needs_weights(tmp_path):
    with pytest.raises(FileNotFoundError):
        Detector(weights_dir=tmp_path, method="yolo")
    assert Detector(weights_dir=tmp_path, label_reader="none").method == "xycut", "auto falls back to XY-cut"


def test_letterbox_and_nms():
    out, r, (left, top) = letterbox(np.zeros((50, 100, 3), np.uint8), 64)
    assert out.shape == (64, 64, 3) and r == 0.64 and (left, top) == (0, 16)
    assert out[0, 0, 0] == 114 and out[32, 32, 0] == 0
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.5) == [1, 2]


# -- YOLO backends, on a throwaway model ------------------------------------------------------
def _draw_dataset(root: Path, n: int = 4, size: int = 64) -> None:
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            im = Image.new("RGB", (size, size), "white")
            d = ImageDraw.Draw(im)
            rows = []
            for k, (x1, y1, x2, y2) in enumerate([(2, 2, 30, 30), (34, 2, 62, 30), (2, 34, 62, 62)]):
                d.rectangle([x1, y1, x2, y2], fill=(40 * k + 20 + i, 80, 160))
                d.rectangle([x1, y1, x1 + 5, y1 + 5], fill="white")
                rows.append(f"0 {(x1 + x2) / 2 / size} {(y1 + y2) / 2 / size} {(x2 - x1) / size} {(y2 - y1) / size}")
                rows.append(f"1 {(x1 + 3) / size} {(y1 + 3) / size} {6 / size} {6 / size}")
            im.save(root / "images" / split / f"{i}.png")
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(rows))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: ['panel', 'label']\n")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A 1-epoch yolo11n at imgsz 64 (seconds on a CPU), exported to ONNX: tests the plumbing, not accuracy."""
    pytest.importorskip("ultralytics")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("tiny_yolo")
    old_home = os.environ.get("FIGMINE_HOME")
    os.environ["FIGMINE_HOME"] = str(root / "home")  # Ultralytics settings/runs stay in the tmp dir
    try:
        from subfigure_detector.offline import TRAIN_OVERRIDES, configure

        configure()
        from ultralytics import YOLO

        _draw_dataset(root / "data")
        model = YOLO("yolo11n.yaml", task="detect")
        model.train(data=str(root / "data" / "data.yaml"), epochs=1, imgsz=64, batch=4, workers=0, device="cpu",
                    project=str(root / "runs"), name="t", val=False, verbose=False, **TRAIN_OVERRIDES)
        weights = root / "weights"
        weights.mkdir()
        (weights / "best.pt").write_bytes(Path(model.trainer.last).read_bytes())
        onnx = YOLO(str(weights / "best.pt")).export(format="onnx", imgsz=64, simplify=False)
        Path(onnx).replace(weights / "best.onnx")
        (weights / "model.json").write_text(json.dumps({"imgsz": 64, "classes": ["panel", "label"]}))
        yield weights
    finally:
        if old_home is None:
            os.environ.pop("FIGMINE_HOME", None)
        else:
            os.environ["FIGMINE_HOME"] = old_home


def test_onnx_backend_loads_and_detects(tiny_weights):
    det = Detector(weights_dir=tiny_weights, backend="onnx", label_reader="none")
    assert det.method == "yolo" and "onnx" in det.describe() and det.model.imgsz == 64
    results = det.detect([TWO_PANELS, two_photos(), b"broken"])
    assert results[2].error
    for r in results[:2]:
        assert r.error is None and r.panels, "an untrained model finds nothing: XY-cut takes over"
        assert all(p.method in ("yolo", "xycut", "whole") for p in r.panels)


def test_onnx_and_torch_backends_agree(tiny_weights):
    images = [np.asarray(two_photos(64, 64)), np.asarray(Image.open(TWO_PANELS).convert("RGB"))]
    onnx = Detector(weights_dir=tiny_weights, backend="onnx", label_reader="none").model.predict(images, 1e-4, 0.5)
    torch = Detector(weights_dir=tiny_weights, backend="torch", label_reader="none").model.predict(images, 1e-4, 0.5)
    for a, b in zip(onnx, torch):
        assert len(a) and len(b), "at this threshold even an untrained model returns boxes"
        top_a, top_b = a[a[:, 4].argmax()], b[b[:, 4].argmax()]
        assert top_a[5] == top_b[5] and abs(top_a[4] - top_b[4]) < 0.01 * max(top_b[4], 1e-3) + 1e-4
        assert np.abs(top_a[:4] - top_b[:4]).max() <= 3.0, (top_a, top_b)


def test_detection_defaults():
    d = Detection("x", 10, 10)
    assert d.method is None and d.to_dict() == {"image": "x", "width": 10, "height": 10, "panels": []}
