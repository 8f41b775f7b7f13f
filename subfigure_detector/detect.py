"""Detect the panels of figures: YOLO when weights are installed, whitespace XY-cut otherwise.

    det = Detector()                      # weights from subfigure_detector/weights/ when present
    for d in det.detect(["fig1.jpg", raw_bytes, pil_image]):
        print(d.to_dict())                # {"image", "width", "height", "panels": [...], "error"?}

Per figure: decode (harvester.images.load_image, the one loader) → a working copy at most
`WORK_MAX_SIDE` pixels → YOLO panels and label boxes (ONNX Runtime or PyTorch), overlap/containment
clean-up, panels tightened to their content, labels read on the working copy (YOLO's label boxes,
else searched in each panel's corners and centred under it; a tiny letter classifier reads each
crop, OCR only the crops it is unsure of) → the letters decide the panels (unlabelled pieces join
the lettered panel heading them: `postprocess.group_by_labels`) → with `second_opinion` (default)
also the XY-cut split with its labels, and per figure the split whose panels carry the cleaner run
of letters → in unlettered figures butted pictures cut at their seams (`seams.py`) → reading order, letters repaired
from the run they form (`postprocess.infer_sequence_labels`) → boxes mapped back to original pixels. Without weights (or when YOLO finds no panel)
the XY-cut split is used. A figure that does not split gives one panel over its content ("whole").

Every image gets a `Detection`; a file that cannot be used (empty, truncated, not an image, a
decompression bomb) gets one with `error` set, and the rest of the batch goes on.

Weights folder (written by train.py): `model.json` {"imgsz": int, "classes": ["panel", "label"], ...},
`best.onnx` and/or `best.pt`. Backend "auto": PyTorch on CUDA when a GPU is present, else ONNX Runtime
on the CPU (as fast as PyTorch at the shipped 320 px input, faster in batches, in half the memory:
bench/RESULTS.md), else PyTorch on the CPU.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image

from harvester.images import ImageError, ImageInfo, load_image
from subfigure_detector import postprocess as pp
from subfigure_detector.label_reader import (CornerTextFinder, LabelReader, find_corner_labels, make_reader,
                                             parse_label, plausible, read_labels)
from subfigure_detector.postprocess import Box, LabelBox, Panel
from subfigure_detector.seams import split_seams
from subfigure_detector.xycut import char_height, split_figure

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights"
WORK_MAX_SIDE = 2048  # larger figures are analysed on a downscaled copy (speed, memory)
MIN_SIDE = 32  # smaller images are not split
COVER_MARGIN = 0.05  # a tied split wins if its panels hold this much more of the figure's ink

ImageInput = Union[str, Path, bytes, bytearray, Image.Image, np.ndarray]


@dataclass
class Detection:
    image: str
    width: int | None
    height: int | None
    panels: list[Panel] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def method(self) -> str | None:
        return self.panels[0].method if self.panels else None

    def to_dict(self) -> dict:
        out: dict = {"image": self.image, "width": self.width, "height": self.height,
                     "panels": [p.to_dict() for p in self.panels]}
        if self.error:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


# -- YOLO backends ---------------------------------------------------------------------------
@dataclass
class ModelCard:
    imgsz: int
    classes: list[str]
    raw: dict

    @classmethod
    def read(cls, weights_dir: Path) -> "ModelCard":
        data = json.loads((weights_dir / "model.json").read_text())
        return cls(int(data.get("imgsz", 640)), list(data.get("classes", ["panel", "label"])), data)


def weights_available(weights_dir: Path) -> bool:
    return (weights_dir / "model.json").is_file() and any(
        (weights_dir / n).is_file() for n in ("best.onnx", "best.pt"))


def _cuda_present() -> bool:
    """Cheap check (no torch import): an NVIDIA device node or CUDA_VISIBLE_DEVICES pointing at one."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists()


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to size x size with grey 114, as Ultralytics does.

    Resampling is Pillow's (antialiased) bilinear rather than OpenCV's: no OpenCV dependency, and
    closer to the area-averaged shrinking Ultralytics applies to training images.
    """
    h, w = rgb.shape[:2]
    r = min(size / h, size / w)
    nw, nh = max(1, int(round(w * r))), max(1, int(round(h * r)))
    im = Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR) if (nw, nh) != (w, h) else Image.fromarray(rgb)
    out = np.full((size, size, 3), 114, np.uint8)
    px, py = (size - nw) / 2, (size - nh) / 2
    left, top = int(round(px - 0.1)), int(round(py - 0.1))
    out[top:top + nh, left:left + nw] = np.asarray(im)
    return out, r, (left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    order = np.argsort(-scores)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        a = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
        b = (boxes[rest, 2] - boxes[rest, 0]) * (boxes[rest, 3] - boxes[rest, 1])
        order = rest[inter / np.maximum(a + b - inter, 1e-9) < iou_threshold]
    return keep


class OnnxYolo:
    """An Ultralytics detection export run with ONNX Runtime; NMS done here (numpy)."""

    name = "onnx"

    def __init__(self, path: Path, card: ModelCard, *, threads: int | None = None, cuda: bool = False) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared cores
        if threads:
            opts.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        self.imgsz = int(shape[2]) if isinstance(shape[2], int) else card.imgsz
        self.fixed_batch = int(shape[0]) if isinstance(shape[0], int) else None
        self.nc = len(card.classes)

    def predict(self, images: list[np.ndarray], conf: float, iou: float) -> list[np.ndarray]:
        """Per image an array of rows (x1, y1, x2, y2, score, class) in the image's pixels."""
        prepped = [letterbox(im, self.imgsz) for im in images]
        out: list[np.ndarray] = []
        step = self.fixed_batch or 8
        for k in range(0, len(prepped), step):
            chunk = prepped[k:k + step]
            batch = np.stack([c[0] for c in chunk]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
            if self.fixed_batch and len(chunk) < self.fixed_batch:
                batch = np.concatenate([batch, np.zeros((self.fixed_batch - len(chunk), *batch.shape[1:]), np.float32)])
            raw = self.session.run(None, {self.input_name: batch})[0]
            for j, (_, r, (left, top)) in enumerate(chunk):
                h, w = images[k + j].shape[:2]
                dets = self._decode(raw[j], conf, iou)
                dets[:, [0, 2]] = np.clip((dets[:, [0, 2]] - left) / r, 0, w)
                dets[:, [1, 3]] = np.clip((dets[:, [1, 3]] - top) / r, 0, h)
                out.append(dets)
        return out

    def _decode(self, pred: np.ndarray, conf: float, iou: float) -> np.ndarray:
        if pred.ndim == 2 and pred.shape[-1] == 6 and pred.shape[0] != 4 + self.nc:
            d = pred[pred[:, 4] >= conf]  # end-to-end export (NMS inside the model): x1 y1 x2 y2 score class
            return d.astype(np.float32)
        p = pred.T  # (anchors, 4 + nc): cx cy w h, class scores
        scores = p[:, 4:4 + self.nc]
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(p)), cls]
        keep = best >= conf
        p, cls, best = p[keep], cls[keep], best[keep]
        boxes = np.stack([p[:, 0] - p[:, 2] / 2, p[:, 1] - p[:, 3] / 2, p[:, 0] + p[:, 2] / 2, p[:, 1] + p[:, 3] / 2], 1)
        rows = []
        for c in np.unique(cls):
            idx = np.flatnonzero(cls == c)
            for i in nms(boxes[idx], best[idx], iou):
                rows.append([*boxes[idx[i]], best[idx[i]], c])
        return np.array(rows, np.float32).reshape(-1, 6)


class TorchYolo:
    """The Ultralytics model itself (PyTorch); CUDA when available."""

    name = "torch"

    def __init__(self, path: Path, card: ModelCard, *, device: str | None = None) -> None:
        from subfigure_detector.offline import configure

        configure()
        import torch
        from ultralytics import YOLO

        self.device = device or ("cuda:0" if torch.cuda.is_available() else "cpu")
        self.model = YOLO(str(path), task="detect")
        self.imgsz = card.imgsz

    def predict(self, images: list[np.ndarray], conf: float, iou: float) -> list[np.ndarray]:
        results = self.model.predict([Image.fromarray(im) for im in images], imgsz=self.imgsz, conf=conf, iou=iou,
                                     device=self.device, verbose=False, batch=len(images))
        out = []
        for r in results:
            b = r.boxes
            out.append(np.concatenate([b.xyxy.cpu().numpy(), b.conf.cpu().numpy()[:, None],
                                       b.cls.cpu().numpy()[:, None]], axis=1).astype(np.float32))
        return out


def load_yolo(weights_dir: Path, backend: str = "auto", *, threads: int | None = None):
    card = ModelCard.read(weights_dir)
    onnx_path, pt_path = weights_dir / "best.onnx", weights_dir / "best.pt"
    if backend == "auto":
        if _cuda_present() and pt_path.is_file():
            backend = "torch"
        else:
            backend = "onnx" if onnx_path.is_file() else "torch"
    if backend == "onnx":
        if not onnx_path.is_file():
            raise FileNotFoundError(f"no ONNX model at {onnx_path}")
        return OnnxYolo(onnx_path, card, threads=threads, cuda=_cuda_present())
    if backend == "torch":
        if not pt_path.is_file():
            raise FileNotFoundError(f"no PyTorch model at {pt_path}")
        return TorchYolo(pt_path, card)
    raise ValueError(f"unknown backend {backend!r}: use auto, onnx or torch")


# -- the detector ----------------------------------------------------------------------------
@dataclass
class _Work:
    """One decoded figure and its downscaled working copy."""

    name: str
    info: ImageInfo | None
    rgb: np.ndarray | None  # working copy
    scale: float  # original pixels per working pixel
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    t0: float = 0.0


class Detector:
    """Panels and labels of figures; see the module docstring.

    method: "auto" (YOLO when weights exist, else XY-cut), "yolo" (weights required), "xycut".
    label_reader: "auto" (the letter classifier, RapidOCR for crops it is unsure of) | "classifier" |
    "rapidocr" | "tesseract" | "none", or a LabelReader.
    decode_workers: threads that decode figures and then post-process them and read their labels.
    merge_unlabelled: join unlabelled pieces to labelled neighbours (`postprocess.merge_unlabelled`).
    group_by_labels: when the figure's letters form an unbroken run, let them decide the panels: every
    unlabelled piece joins the labelled panel that owns it (`postprocess.group_by_labels`).
    split_seams: in a figure without letters, cut pictures that touch with no gutter at their seams
    (`seams.split_seams`).
    second_opinion: also split every figure by XY-cut and keep, per figure, whichever split has the
    cleaner run of panel labels (`postprocess.label_consistency`); costs the XY-cut time per figure.
    corner_search: how panels without a boxed label are searched: "full" (isolated blobs, then the
    OCR text detector), "blob" (blobs only: faster, finds fewer), "none".
    """

    def __init__(self, weights_dir: str | Path | None = None, backend: str = "auto", *, method: str = "auto",
                 batch_size: int = 8, conf: float = 0.25, label_conf: float = 0.25, iou: float = 0.5,
                 label_reader: str | LabelReader | None = "auto", max_pixels: int | None = None,
                 threads: int | None = None, decode_workers: int = 2, merge_unlabelled: bool = True,
                 group_by_labels: bool = True, split_seams: bool = True, second_opinion: bool = True,
                 corner_search: str = "full") -> None:
        if method not in ("auto", "yolo", "xycut"):
            raise ValueError(f"unknown method {method!r}: use auto, yolo or xycut")
        self.weights_dir = Path(weights_dir) if weights_dir else DEFAULT_WEIGHTS
        self.backend = backend
        self.batch_size = max(1, batch_size)
        self.conf, self.label_conf, self.iou = conf, label_conf, iou
        self.max_pixels = max_pixels
        self.decode_workers = decode_workers
        # Joins image-grid halves only across gaps clearly narrower than the gutters between labelled
        # panels, so a panel whose letter was missed stays (bench/RESULTS.md: neutral or better).
        self.merge_unlabelled = merge_unlabelled
        self.group_by_labels = group_by_labels
        self.split_seams = split_seams
        self.second_opinion = second_opinion
        self.model = None
        if method == "yolo" or (method == "auto" and weights_available(self.weights_dir)):
            if not weights_available(self.weights_dir):
                raise FileNotFoundError(f"no YOLO weights (model.json + best.onnx/best.pt) in {self.weights_dir}")
            self.model = load_yolo(self.weights_dir, backend, threads=threads)
        self.method = "yolo" if self.model is not None else "xycut"
        if label_reader is None or isinstance(label_reader, str):
            self.reader = make_reader(label_reader or "none")
        else:
            self.reader = label_reader
        if corner_search not in ("full", "blob", "none"):
            raise ValueError(f"unknown corner_search {corner_search!r}: use full, blob or none")
        self.corner_search = corner_search
        self.finder = CornerTextFinder(threads=threads) if corner_search == "full" else None

    def describe(self) -> str:
        if self.model is None:
            parts = ["xycut"]
        else:
            parts = [f"yolo ({self.model.name} on {self.model.device}, imgsz {self.model.imgsz}, {self.weights_dir})"]
        parts.append(f"labels: {self.reader.name if self.reader else 'not read'}")
        return ", ".join(parts)

    # -- public -----------------------------------------------------------------------------
    def detect(self, images: Sequence[ImageInput]) -> list[Detection]:
        out: list[Detection] = []
        for k in range(0, len(images), self.batch_size):
            out += self._detect_batch(list(images[k:k + self.batch_size]), k)
        return out

    def detect_one(self, image: ImageInput) -> Detection:
        return self.detect([image])[0]

    # -- stages -----------------------------------------------------------------------------
    def _detect_batch(self, images: list[ImageInput], offset: int) -> list[Detection]:
        if self.decode_workers > 1 and len(images) > 1:
            with ThreadPoolExecutor(self.decode_workers) as pool:
                works = list(pool.map(lambda a: self._decode(*a), [(im, offset + i) for i, im in enumerate(images)]))
        else:
            works = [self._decode(im, offset + i) for i, im in enumerate(images)]
        usable = [w for w in works if w.rgb is not None and min(w.rgb.shape[:2]) >= MIN_SIDE]
        raw: dict[int, np.ndarray] = {}
        if self.model is not None and usable:
            try:
                for w, dets in zip(usable, self.model.predict([w.rgb for w in usable], min(self.conf, self.label_conf),
                                                              self.iou)):
                    raw[id(w)] = dets
            except Exception as exc:  # noqa: BLE001 - a model failure must not lose the batch
                log.warning("YOLO failed on a batch, using XY-cut: %s", exc)
        if self.decode_workers > 1 and len(works) > 1:
            # Post-processing and label reading of different figures overlap: much of it is numpy,
            # SciPy and ONNX Runtime work that releases the GIL.
            with ThreadPoolExecutor(self.decode_workers) as pool:
                return list(pool.map(lambda w: self._finish(w, raw.get(id(w))), works))
        return [self._finish(w, raw.get(id(w))) for w in works]

    def _decode(self, image: ImageInput, index: int) -> _Work:
        t0 = time.perf_counter()
        name = _name_of(image, index)
        try:
            info = _load(image, name, self.max_pixels)
        except ImageError as exc:
            return _Work(name, None, None, 1.0, error=str(exc), t0=t0)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's error, not the batch's
            return _Work(name, None, None, 1.0, error=f"cannot decode {name}: {type(exc).__name__}: {exc}", t0=t0)
        warnings = []
        if info.frames > 1:
            warnings.append(f"{info.frames} frames/pages: the first was used")
        rgb_im = info.rgb
        scale = 1.0
        if max(rgb_im.size) > WORK_MAX_SIDE:
            scale = max(rgb_im.size) / WORK_MAX_SIDE
            rgb_im = rgb_im.resize((max(1, round(rgb_im.width / scale)), max(1, round(rgb_im.height / scale))),
                                   Image.BOX)
        scale = info.width / rgb_im.width  # a very large figure may come decoded reduced
        info = replace(info, rgb=None)  # only the working copy is kept while the batch runs
        return _Work(name, info, np.asarray(rgb_im), scale, warnings=warnings, t0=t0)

    def _finish(self, w: _Work, dets: np.ndarray | None) -> Detection:
        if w.error or w.info is None or w.rgb is None:
            return Detection(w.name, None, None, error=w.error or "no image", seconds=time.perf_counter() - w.t0)
        try:
            panels, warnings = self._panels(w, dets)
        except Exception as exc:  # noqa: BLE001 - one bad figure must not stop the batch
            log.exception("detection failed on %s", w.name)
            return Detection(w.name, w.info.width, w.info.height, error=f"detection failed: {type(exc).__name__}: {exc}",
                             warnings=w.warnings, seconds=time.perf_counter() - w.t0)
        panels = [_to_original(p, w.scale, w.info.width, w.info.height) for p in panels]
        return Detection(w.name, w.info.width, w.info.height, panels, warnings=w.warnings + warnings,
                         seconds=time.perf_counter() - w.t0)

    def _panels(self, w: _Work, dets: np.ndarray | None) -> tuple[list[Panel], list[str]]:
        rgb = w.rgb
        h, wd = rgb.shape[:2]
        mask = pp.ink_mask(rgb)
        if not mask.any():
            return [], ["blank image: no content"]
        if min(h, wd) < MIN_SIDE:
            box = pp.trim_box(mask, (0, 0, wd, h)) or (0, 0, wd, h)
            return [Panel(box, 1.0, "whole")], [f"image smaller than {MIN_SIDE} px: not split"]
        panels: list[Panel] = []
        labels: list[LabelBox] = []
        if dets is not None and len(dets):
            for x1, y1, x2, y2, score, cls in dets.tolist():
                box = pp.clip_box((x1, y1, x2, y2), wd, h)
                if pp.area(box) <= 0:
                    continue
                if int(cls) == 0 and score >= self.conf:
                    panels.append(Panel(box, float(score), "yolo"))
                elif int(cls) == 1 and score >= self.label_conf:
                    labels.append(LabelBox(box, float(score)))
            panels = pp.resolve_containment(pp.suppress_overlaps(panels, self.iou))
            panels = pp.trim_panels(panels, mask)
        xy = None
        if not panels or self.second_opinion:
            xy = [Panel(p.box, p.score, "xycut", label_box=p.label_box) for p in split_figure(rgb, mask=mask)]
            if panels and _same_split(panels, xy):
                # XY-cut confirms YOLO's split: read only YOLO's, lending it the letters XY-cut saw.
                labels = labels + [LabelBox(p.label_box, 0.0) for p in xy if p.label_box is not None
                                   and all(pp.iou(p.label_box, lb.box) < 0.3 for lb in labels)]
                xy = None
        ch = char_height(rgb, mask=mask) if self.reader is not None else 10.0
        reader = _MemoReader(self.reader) if self.reader is not None else None
        candidates = []
        if panels:
            candidates.append(self._finish_panels(self._read_yolo_labels(reader, rgb, panels, labels, ch)))
        if xy is not None:
            candidates.append(self._finish_panels(self._read_labels(reader, rgb, xy, ch)))
        # With a second opinion the split whose panels carry a cleaner run of labels wins; on a tie
        # (unlettered figures) the one with more panels - without letters every separate picture is a
        # panel; on the gold-v2 dev split the finer split was right 6 times and wrong 2 (bench/RESULTS.md)
        # - then the one whose panels leave clearly less of the figure's ink outside them (YOLO boxes
        # drawn at 320 px can stop short of a wide panel's edge), then YOLO's.
        keys = [(pp.label_consistency(c), len(c)) for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (keys[i], -i))
        tied = [i for i in range(len(candidates)) if i != best and keys[i] == keys[best]]
        if tied:
            cover = {i: pp.ink_coverage(mask, candidates[i]) for i in [best, *tied]}
            other = max(tied, key=lambda i: cover[i])
            if cover[other] > cover[best] + COVER_MARGIN:
                best = other
        panels = candidates[best]
        if self.split_seams and not any(p.label for p in panels):
            panels = pp.sort_panels([replace(p, box=b, extra={**p.extra, "seam": True}) if b != p.box else p
                                     for p in panels for b in split_seams(rgb, p.box, mask)])
        if self.reader is not None:
            panels = pp.infer_sequence_labels(panels)
        return panels, []

    def _finish_panels(self, panels: list[Panel]) -> list[Panel]:
        if self.merge_unlabelled and self.reader is not None and len(panels) > 1:
            panels = pp.merge_unlabelled(panels)
        if self.group_by_labels and self.reader is not None and len(panels) > 1:
            panels = pp.group_by_labels(panels)
        if len(panels) == 1 and panels[0].method == "xycut":
            panels = [replace(panels[0], method="whole")]
        return pp.sort_panels(panels)

    def _read_yolo_labels(self, reader: LabelReader | None, rgb: np.ndarray, panels: list[Panel], labels: list[LabelBox],
                          ch: float) -> list[Panel]:
        if reader is not None and labels:
            reads = read_labels(reader, rgb, [lb.box for lb in labels], lenient=True)
            labels = [replace(lb, raw=r.raw, text_score=r.score) for lb, r in zip(labels, reads)]
            labels = [lb for lb, r in zip(labels, reads) if r.label is not None] or labels
        panels = pp.assign_labels(panels, labels)
        return self._read_labels(reader, rgb, panels, ch)

    def _read_labels(self, reader: LabelReader | None, rgb: np.ndarray, panels: list[Panel], ch: float) -> list[Panel]:
        """Fill in `label` for every panel: read its label box, else look in its top corners."""
        if reader is None or not panels:
            return panels
        out = list(panels)
        todo = [i for i, p in enumerate(out) if p.label_box is not None and p.label_raw is None]
        for i, r in zip(todo, read_labels(reader, rgb, [out[i].label_box for i in todo], lenient=True)):
            if r.label is not None:
                out[i] = replace(out[i], label_raw=r.raw, label=r.label, label_score=r.score,
                                 extra={**out[i].extra, "label_source": "box"})
            elif out[i].method == "xycut":
                out[i] = replace(out[i], label_box=None)  # a merged-in word that is not a label
        for i, p in enumerate(out):
            if p.label is None and p.label_raw is not None:
                out[i] = replace(p, label=parse_label(p.label_raw, lenient=True), extra={**p.extra, "label_source": "box"})
        missing = [i for i, p in enumerate(out) if p.label is None]
        if missing and len(out) > 1 and self.corner_search != "none":  # one panel needs no letter
            found = find_corner_labels(reader, self.finder, rgb, [out[i].box for i in missing], char_h=ch)
            for i, hit in zip(missing, found):
                if hit is not None:
                    box, r = hit
                    p = out[i]
                    out[i] = replace(p, box=pp.union_box([p.box, box]), label_box=box, label_raw=r.raw,
                                     label=r.label, label_score=r.score, extra={**p.extra, "label_source": r.source})
        keep = plausible([(p.label, p.label_score or 0.0) for p in out])
        return [p if k or p.label is None else replace(p, label=None) for p, k in zip(out, keep)]


class _MemoReader:
    """One figure's label reads, remembered by crop: the YOLO and XY-cut candidates share most label boxes
    and corners, and each crop needs reading once."""

    def __init__(self, reader: LabelReader) -> None:
        self.reader = reader
        self.name = reader.name
        self.memo: dict[tuple, tuple[str, float]] = {}

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        keys = [(c.shape, hash(c.tobytes())) for c in crops]
        todo: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k not in self.memo and k not in todo:
                todo[k] = i
        if todo:
            for k, r in zip(todo, self.reader.read([crops[i] for i in todo.values()])):
                self.memo[k] = r
        return [self.memo[k] for k in keys]


def _same_split(a: list[Panel], b: list[Panel], min_iou: float = 0.85) -> bool:
    """Two splits with the same panels (each panel of one matched by one of the other)."""
    if len(a) != len(b):
        return False
    return all(max(pp.iou(p.box, q.box) for q in b) >= min_iou for p in a)


def _name_of(image: ImageInput, index: int) -> str:
    if isinstance(image, (str, Path)):
        return str(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<bytes #{index}>"
    return f"<image #{index}>"


def _load(image: ImageInput, name: str, max_pixels: int | None) -> ImageInfo:
    """Everything goes through harvester.images.load_image; in-memory pictures are encoded first."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        try:
            image.save(buf, "PNG" if image.mode not in ("CMYK",) else "TIFF")
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot encode in-memory image {name} (mode {image.mode}): {exc}") from exc
        return load_image(buf.getvalue(), max_pixels=max_pixels, name=name, max_side=WORK_MAX_SIDE)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return load_image(bytes(image), max_pixels=max_pixels, name=name, max_side=WORK_MAX_SIDE)
    return load_image(Path(image), max_pixels=max_pixels, name=name, max_side=WORK_MAX_SIDE)


def _to_original(p: Panel, scale: float, width: int, height: int) -> Panel:
    if scale == 1.0:
        return p

    def up(b: Box | None) -> Box | None:
        if b is None:
            return None
        return pp.clip_box((b[0] * scale, b[1] * scale, b[2] * scale, b[3] * scale), width, height)

    return replace(p, box=up(p.box), label_box=up(p.label_box))


# -- command-line entry point ----------------------------------------------------------------
def detect_command(images: Sequence[str], *, as_json: bool = False, weights_dir: str | None = None,
                   backend: str = "auto", method: str = "auto", batch_size: int = 8) -> int:
    """`figmine detect IMAGE... [--json]`: one line per image; returns the number of images with errors."""
    detector = Detector(weights_dir=weights_dir, backend=backend, method=method, batch_size=batch_size)
    errors = 0
    for k in range(0, len(images), batch_size):
        for det in detector.detect(list(images[k:k + batch_size])):
            errors += det.error is not None
            if as_json:
                print(json.dumps(det.to_dict()), flush=True)
            else:
                print(format_detection(det), flush=True)
    return errors


def format_detection(det: Detection) -> str:
    if det.error:
        return f"{det.image}: ERROR {det.error}"
    lines = [f"{det.image}: {det.width}x{det.height}, {len(det.panels)} panel(s)"
             + (f" ({det.method})" if det.panels else "") + "".join(f"  [{w}]" for w in det.warnings)]
    for p in det.panels:
        label = f"{p.label} ({p.label_raw!r})" if p.label else "-"
        lines.append(f"  {label:<12} box {list(p.box)}  score {p.score:.2f}  {p.method}")
    return "\n".join(lines)
