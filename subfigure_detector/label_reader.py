"""Read panel labels ("A", "(b)", "c.", "A1", "ii", "B′") from small crops, and find unboxed ones.

Readers (all offline; `bench/label_bench.py` measures them, numbers in `bench/RESULTS.md`):
- `letter_classifier.LetterClassifier`: a tiny CNN trained on synthetic label crops (~0.1 ms a crop);
  the default puts it in front of RapidOCR (`CascadeReader`): OCR reads only the crops it is unsure of.
- `RapidOCRReader`: the PP-OCRv4 text recogniser that `rapidocr-onnxruntime` ships inside its wheel,
  run on the crop alone (no text detection).
- `TesseractReader`: the Debian `tesseract-ocr` binary in single-word mode; optional, used only
  when asked for and installed (less accurate and far slower: bench/RESULTS.md).

Labels that no detector boxed are looked for in each panel's corners (`find_corner_labels`): an
isolated high-contrast blob first (cheap), then the PP-OCRv4 text *detector* (also in the wheel)
on the corner crop; candidates are read and kept only when the text is a plausible panel label.

Canonical form (what captions are aligned on): brackets and trailing punctuation dropped, letters
upper-cased, digits kept, primes kept as an ASCII apostrophe: "(a)" → "A", "b1" → "B1", "d." → "D",
"B′" → "B'", "ii" → "II". Roman numerals stay letters (not converted to numbers): a caption that says
"(ii)" canonicalises to the same "II", and "i" alone cannot be told from the letter i anyway.
`Panel.label` holds the canonical form, `Panel.label_raw` the text as read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import numpy as np
from scipy import ndimage

from figmine.panel_labels import PRIME, panel_key

_CANON_RE = re.compile(r"^[A-Za-z]{1,4}[0-9]{0,2}'{0,2}$|^[0-9]{1,2}[A-Za-z]?$")
_ROMAN = r"(?:I{1,3}|IV|VI{0,3}|IX|X)"
# What a panel label looks like once canonical: one letter (maybe primed or numbered, maybe with a
# roman sub-number), or a roman numeral alone. "WT", "KO", "GFP" are not labels.
_PANEL_RE = re.compile(rf"^(?:[A-Z](?:'{{1,2}}|[0-9]{{1,2}}|{_ROMAN})?|{_ROMAN})$")
# OCR confusions: a lone stroke is the letter I; "i1i" is the roman iii. Lone digits become letters
# only where the crop is known to hold a label: elsewhere they are far more often tick labels.
_OCR_FIXES = {"|": "I", "!": "I"}
_DIGIT_FIXES = {"1": "I", "0": "O", "2": "Z", "5": "S", "6": "b", "8": "B", "9": "g"}
_STROKES = set("iIl1|!")


def canonical_label(raw: str | None) -> str | None:
    """The label's letters for alignment ("(a)" → "A"); None when nothing label-like is left."""
    if raw is None:
        return None
    s = panel_key(raw).replace(PRIME, "'")  # the one label key; the detector writes primes in ASCII
    return s if s and _CANON_RE.match(s) else None


def plausible(labels: list[tuple[str | None, float]]) -> list[bool]:
    """Which of a figure's labels (canonical, read score) to keep, one entry per panel.

    Letters run A, B, C... over a figure's panels, so a single letter far beyond the panel count
    (a stray "P" read from an axis title in a four-panel figure) is dropped, and of two panels
    claiming the same label the more confident read keeps it.
    """
    n = len(labels)
    keep = [lab is not None for lab, _ in labels]
    for i, (lab, _) in enumerate(labels):
        if lab and len(lab) == 1 and lab.isalpha() and ord(lab) - ord("A") >= n + 2:
            keep[i] = False
    best: dict[str, int] = {}
    for i, (lab, score) in enumerate(labels):
        if not keep[i] or lab is None:
            continue
        j = best.get(lab)
        if j is None or score > labels[j][1]:
            if j is not None:
                keep[j] = False
            best[lab] = i
        else:
            keep[i] = False
    return keep


def is_panel_label(canonical: str | None) -> bool:
    return bool(canonical) and bool(_PANEL_RE.match(canonical))


def parse_label(text: str | None, *, lenient: bool = False) -> str | None:
    """Canonical label from OCR output, or None when the text is not a plausible panel label.

    `lenient` (for crops known to hold a label: a YOLO label box, an isolated blob at a panel's
    corner) also reads a lone digit as the letter it resembles ("6" → b, "1" → I).
    """
    if not text:
        return None
    t = text.strip()
    core = t.strip("()[].:,")
    fixes = {**_OCR_FIXES, **_DIGIT_FIXES} if lenient else _OCR_FIXES
    if len(core) == 1 and core in fixes:
        t = t.replace(core, fixes[core])
    elif 2 <= len(core) <= 3 and set(core) <= _STROKES and set(core) & set("iI"):
        t = t.replace(core, "i" * len(core))  # "i1i", "1i": roman numerals made of strokes
    canon = canonical_label(t)
    if not is_panel_label(canon) and len(core) >= 2:
        # "Al", "A|" for A1: after the first letter a stroke is the digit one.
        canon = canonical_label(t[:1] + t[1:].replace("l", "1").replace("|", "1"))
    return canon if is_panel_label(canon) else None


# -- crop preparation ------------------------------------------------------------------------
def prepare_crop(rgb: np.ndarray, box: Sequence[int], *, invert: bool | None = None, margin: float = 0.12,
                 height: int = 48) -> np.ndarray:
    """The label as dark-on-white greyscale, scaled to `height` pixels (H x W x 3 uint8).

    The crop keeps a thin margin of the figure around the box and is not padded further: the
    recogniser was trained on tight text-line crops and reads padded single letters worse
    (measured in bench/label_bench.py). `invert`: True for light letters (white on a photo), False
    for dark ones, None to guess from the crop border. The background is stretched to white.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    h, w = rgb.shape[:2]
    m = max(1, int(round(margin * max(1, y2 - y1))))
    crop = rgb[max(0, y1 - m):min(h, y2 + m), max(0, x1 - m):min(w, x2 + m)]
    if crop.size == 0:
        return np.full((height, height, 3), 255, np.uint8)
    grey = crop.astype(np.float32).mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32)
    if invert is None:
        invert = _light_border(grey)
    if invert:
        grey = 255.0 - grey
    lo, hi = np.percentile(grey, (2, 70))
    hi = max(float(hi), float(lo) + 16.0)
    grey = np.clip((grey - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    from PIL import Image

    im = Image.fromarray(grey)
    scale = height / max(1, im.height)
    im = im.resize((max(1, round(im.width * scale)), height), Image.BICUBIC)
    return np.stack([np.asarray(im)] * 3, axis=2)


def _light_border(grey: np.ndarray) -> bool:
    """True when the crop's border is dark, i.e. the letters are probably light."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return bool(np.median(border) < 128)


# -- readers ---------------------------------------------------------------------------------
class LabelReader(Protocol):
    name: str

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence (0..1) for each prepared crop."""
        ...


class RapidOCRReader:
    """PP-OCRv4 text recognition, the model shipped inside the rapidocr-onnxruntime wheel.

    Run directly with ONNX Runtime rather than through RapidOCR's pipeline: a label crop is a few
    characters, so it is fed at its own width instead of padded to 320 pixels (about 4x faster),
    and CTC decoding is restricted to the characters labels use (letters, digits, brackets,
    punctuation, primes) so that the model's 6,600 Chinese characters cannot win ("ii" read as "团").
    """

    name = "rapidocr"
    ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789()[].:,'′’")
    HEIGHT = 48

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._session = None
        self._mask: np.ndarray | None = None
        self._chars: list[str] = []
        self._lock = threading.Lock()

    @staticmethod
    def model_path():
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("rapidocr_onnxruntime")
        if spec is None or spec.origin is None:
            raise RuntimeError("rapidocr-onnxruntime is not installed")
        return Path(spec.origin).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if self._threads:
                opts.intra_op_num_threads = self._threads
            opts.log_severity_level = 3
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared cores
            session = ort.InferenceSession(str(self.model_path()), opts, providers=["CPUExecutionProvider"])
            chars = session.get_modelmeta().custom_metadata_map["character"].splitlines()
            self._chars = ["<blank>"] + chars + [" "]  # PaddleOCR's CTC layout: blank first, space last
            self._mask = np.array([i == 0 or c in self.ALLOWED for i, c in enumerate(self._chars)])
            self._session = session

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        if self._session is None:
            self._load()
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
        for k in range(0, len(order), 16):
            idx = order[k:k + 16]
            batch = self._batch([crops[i] for i in idx])
            probs = self._session.run(None, {self._session.get_inputs()[0].name: batch})[0]
            for i, p in zip(idx, probs):
                out[i] = self._decode(p)
        return out

    def _batch(self, crops: list[np.ndarray]) -> np.ndarray:
        from PIL import Image

        h = self.HEIGHT
        widths = [max(h, min(8 * h, int(np.ceil(h * c.shape[1] / max(1, c.shape[0]))))) for c in crops]
        wmax = max(widths)
        batch = np.zeros((len(crops), 3, h, wmax), np.float32)  # 0 = mid grey after normalisation
        for j, (c, w) in enumerate(zip(crops, widths)):
            im = Image.fromarray(c).convert("RGB").resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, np.float32).transpose(2, 0, 1) / 127.5 - 1.0
            batch[j, :, :, :w] = arr
        return batch

    def _decode(self, probs: np.ndarray) -> tuple[str, float]:
        p = probs * self._mask  # only allowed characters (and the CTC blank) may win
        best = p.argmax(axis=1)
        text, scores, prev = [], [], -1
        for t, c in enumerate(best):
            if c != prev and c != 0:
                text.append(self._chars[c])
                scores.append(float(p[t, c]))
            prev = c
        return "".join(text), float(np.mean(scores)) if scores else 0.0


class TesseractReader:
    """Tesseract 4/5 (Debian `tesseract-ocr`), one word per crop; optional."""

    name = "tesseract"
    _WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789()[].:'"

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("tesseract")

    @staticmethod
    def available() -> bool:
        return shutil.which("tesseract") is not None

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if self.binary is None:
            raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr)")
        import io

        from PIL import Image

        out = []
        for crop in crops:
            buf = io.BytesIO()
            Image.fromarray(crop).save(buf, "PNG")
            proc = subprocess.run(
                [self.binary, "stdin", "stdout", "--psm", "8", "-c", f"tessedit_char_whitelist={self._WHITELIST}",
                 "tsv"], input=buf.getvalue(), capture_output=True, timeout=30, check=False)
            out.append(_parse_tsv(proc.stdout.decode("utf-8", "replace")))
        return out


def _parse_tsv(tsv: str) -> tuple[str, float]:
    words, confs = [], []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) == 12 and cols[11].strip() and float(cols[10]) >= 0:
            words.append(cols[11].strip())
            confs.append(float(cols[10]) / 100.0)
    return ("".join(words), float(min(confs)) if confs else 0.0)


def make_reader(name: str = "auto") -> LabelReader | None:
    """A label reader by name.

    'auto': the letter classifier (`letter_classifier.py`) backed by RapidOCR for the crops it is
    unsure of, when both are installed; else whichever of them is, else Tesseract, else None.
    'classifier' (alone), 'rapidocr', 'tesseract', 'none'.
    """
    import importlib.util

    from subfigure_detector.letter_classifier import CascadeReader, LetterClassifier

    if name == "none":
        return None
    have_ocr = importlib.util.find_spec("rapidocr_onnxruntime") is not None
    if name == "auto":
        if LetterClassifier.available():
            return CascadeReader(LetterClassifier(), RapidOCRReader()) if have_ocr else LetterClassifier()
        if have_ocr:
            return RapidOCRReader()
        return TesseractReader() if TesseractReader.available() else None
    if name == "classifier":
        if not LetterClassifier.available():
            raise RuntimeError("no letter classifier at subfigure_detector/weights/letters.onnx")
        return LetterClassifier()
    if name == "rapidocr":
        if not have_ocr:
            raise RuntimeError("rapidocr-onnxruntime is not installed")
        return RapidOCRReader()
    if name == "tesseract":
        if not TesseractReader.available():
            raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr)")
        return TesseractReader()
    raise ValueError(f"unknown label reader {name!r}: use auto, classifier, rapidocr, tesseract or none")


@dataclass
class ReadLabel:
    raw: str
    label: str | None  # canonical, None when the text is not a plausible panel label
    score: float
    source: str = "box"  # where the crop came from: "box" (given), "blob" or "text" (corner search)


def read_labels(reader: LabelReader, rgb: np.ndarray, boxes: list[Sequence[int]], *,
                retry_below: float = 0.8, lenient: bool | Sequence[bool] = False) -> list[ReadLabel]:
    """Read the label in each box of the figure (batched).

    Which way round a label is printed (dark on white, white on a photo) is guessed from its
    surroundings; where that read is not a confident panel label the crop is read again inverted
    and the better read kept.
    """
    if not boxes:
        return []
    soft = [lenient] * len(boxes) if isinstance(lenient, bool) else list(lenient)
    first = [prepare_crop(rgb, b) for b in boxes]
    reads = [ReadLabel(t, parse_label(t, lenient=f), s) for (t, s), f in zip(reader.read(first), soft)]
    redo = [i for i, r in enumerate(reads) if r.label is None or r.score < retry_below]
    if redo:
        guessed = [_guess_invert(rgb, boxes[i]) for i in redo]
        second = reader.read([prepare_crop(rgb, boxes[i], invert=not g) for i, g in zip(redo, guessed)])
        for i, (t, s) in zip(redo, second):
            alt = ReadLabel(t, parse_label(t, lenient=soft[i]), s)
            if (alt.label is not None, alt.score) > (reads[i].label is not None, reads[i].score):
                reads[i] = alt
    return reads


def _guess_invert(rgb: np.ndarray, box: Sequence[int]) -> bool:
    x1, y1, x2, y2 = (int(v) for v in box)
    h, w = rgb.shape[:2]
    m = max(1, int(round(0.12 * max(1, y2 - y1))))
    crop = rgb[max(0, y1 - m):min(h, y2 + m), max(0, x1 - m):min(w, x2 + m)]
    if crop.size == 0:
        return False
    return _light_border(crop.astype(np.float32).mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32))


# -- finding labels that no detector boxed ---------------------------------------------------
class CornerTextFinder:
    """Text boxes in the corners of panels, from the PP-OCRv4 text *detection* model (DB).

    Panel letters that no YOLO box covers sit in a panel's top-left corner (sometimes top-right),
    dark on white or white on a photo. A text detector finds them far more reliably than contrast
    blobs on photographs, and on a small corner crop it costs a few milliseconds: every corner of a
    figure goes through the model as one batch at a fixed small size.
    """

    SIZE = (160, 256)  # (height, width) of the detector input for one corner crop; multiples of 32

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._session = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared cores
                if self._threads:
                    opts.intra_op_num_threads = self._threads
                path = RapidOCRReader.model_path().parent / "ch_PP-OCRv4_det_infer.onnx"
                self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def find(self, rgb: np.ndarray, regions: list[Sequence[int]]) -> list[list[tuple[int, int, int, int]]]:
        """Text boxes (figure pixels) inside each region, nearest the region's own origin first."""
        if not regions:
            return []
        if self._session is None:
            self._load()
        from PIL import Image

        H, W = self.SIZE
        batch = np.zeros((len(regions), 3, H, W), np.float32)
        scales = []
        for j, (x1, y1, x2, y2) in enumerate(regions):
            crop = rgb[int(y1):int(y2), int(x1):int(x2)]
            if crop.size == 0:
                scales.append(1.0)
                continue
            s = min(H / crop.shape[0], W / crop.shape[1])
            im = Image.fromarray(crop).resize((max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                                              Image.BILINEAR)
            arr = np.asarray(im, np.float32)[:, :, ::-1] / 127.5 - 1.0  # BGR, mean 0.5 / std 0.5 as PaddleOCR
            batch[j, :, :arr.shape[0], :arr.shape[1]] = arr.transpose(2, 0, 1)
            batch[j, :, arr.shape[0]:, :] = 1.0  # pad with white
            batch[j, :, :, arr.shape[1]:] = 1.0
            scales.append(s)
        prob = self._session.run(None, {self._session.get_inputs()[0].name: batch})[0][:, 0]
        out = []
        for j, (x1, y1, _, _) in enumerate(regions):
            boxes = _db_boxes(prob[j])
            s = scales[j]
            found = [(int(x1 + bx1 / s), int(y1 + by1 / s), int(np.ceil(x1 + bx2 / s)), int(np.ceil(y1 + by2 / s)))
                     for bx1, by1, bx2, by2 in boxes]
            out.append(found)
        return out


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _db_boxes(prob: np.ndarray, thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6) -> list[tuple[float, float, float, float]]:
    """Axis-aligned boxes from a DB probability map (PaddleOCR's post-processing, without rotation)."""
    bitmap = ndimage.binary_dilation(prob > thresh, structure=np.ones((2, 2), bool))
    lab, n = ndimage.label(bitmap)
    boxes = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if min(h, w) < 3:
            continue
        if float(prob[sl][lab[sl] == k].mean()) < box_thresh:
            continue
        d = w * h * unclip / (2.0 * (w + h))  # DB's unclip distance for a rectangle
        boxes.append((max(0.0, sl[1].start - d), max(0.0, sl[0].start - d), sl[1].stop + d, sl[0].stop + d))
    return boxes


def corner_regions(box: Sequence[int], width: int, height: int, *, char_h: float = 10.0) -> dict[str, tuple[int, int, int, int]]:
    """The search regions of a panel, in the order labels are found there (a little outside it, too)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    pw, ph = x2 - x1, y2 - y1
    rw = int(min(pw, max(0.25 * pw, 6 * char_h)))
    rh = int(min(ph, max(0.2 * ph, 3.5 * char_h)))
    m = int(0.5 * char_h)
    return {
        "top-left": (max(0, x1 - m), max(0, y1 - m), min(width, x1 + rw), min(height, y1 + rh)),
        "top-right": (max(0, x2 - rw), max(0, y1 - m), min(width, x2 + m), min(height, y1 + rh)),
        "bottom-left": (max(0, x1 - m), max(0, y2 - rh), min(width, x1 + rw), min(height, y2 + m)),
        # "(a)" centred under its picture (a common journal style), inside the panel's box or just below it
        "bottom-center": (max(0, (x1 + x2 - rw) // 2), max(0, y2 - rh), min(width, (x1 + x2 + rw) // 2),
                          min(height, y2 + int(3.5 * char_h))),
    }


# Regions searched for an isolated blob only: the text detector there cost 15% more CPU per figure
# (bench/RESULTS.md, session 5) for labels the blob search mostly finds already.
BLOB_ONLY = ("bottom-center",)


def find_corner_labels(reader: LabelReader, finder: CornerTextFinder | None, rgb: np.ndarray, boxes: list[Sequence[int]],
                       *, char_h: float = 10.0, max_chars: int = 4, per_region: int = 2,
                       corners: Sequence[str] = ("top-left", "top-right", "bottom-left", "bottom-center"),
                       ) -> list[tuple[tuple[int, int, int, int], ReadLabel] | None]:
    """For each panel box: the label found in its top-left corner (else top-right, else bottom-left, else
    centred under it), or None.

    In each corner, first the cheap candidate - an isolated high-contrast blob (`find_corner_blob`) -
    is read; where that gives no label, the text detector's boxes no wider than a few characters
    are, the `per_region` nearest the corner (skipped when `finder` is None: blobs only, about 5x
    cheaper). The nearest plausible panel label wins.
    """
    h, w = rgb.shape[:2]
    results: list[tuple[tuple[int, int, int, int], ReadLabel] | None] = [None] * len(boxes)
    for corner in corners:
        right, bottom, center = corner.endswith("right"), corner.startswith("bottom"), corner.endswith("center")
        todo = [i for i in range(len(boxes)) if results[i] is None]
        regions = {i: corner_regions(boxes[i], w, h, char_h=char_h)[corner] for i in todo}
        blobs = {i: find_corner_blob(rgb, regions[i], char_h=char_h, from_right=right, from_bottom=bottom,
                                     from_center=center) for i in todo}
        _take(results, [(i, b, 0.0) for i, b in blobs.items() if b], reader, rgb, lenient=True, source="blob")
        todo = [i for i in todo if results[i] is None]
        if not todo or finder is None or corner in BLOB_ONLY:
            continue
        cands: list[tuple[int, tuple[int, int, int, int], float]] = []
        for i, tboxes in zip(todo, finder.find(rgb, [regions[i] for i in todo])):
            region = regions[i]
            ox, oy = region[2 if right else 0], region[3 if bottom else 1]
            if center:
                ox = (region[0] + region[2]) / 2
            mine = []
            for tb in tboxes:
                bw, bh = tb[2] - tb[0], tb[3] - tb[1]
                if bh <= 0 or bw > max_chars * 0.9 * bh + bh:
                    continue  # a word or a line of text, not a label
                if blobs.get(i) and _iou(tb, blobs[i]) > 0.5:
                    continue  # already read
                tx = (tb[0] + tb[2]) / 2 if center else tb[2 if right else 0]
                mine.append((i, tb, float(np.hypot(tx - ox, tb[3 if bottom else 1] - oy))))
            cands += sorted(mine, key=lambda c: c[2])[:per_region]
        _take(results, cands, reader, rgb, lenient=False, source="text")
    return results


def _take(results: list, cands: list[tuple[int, tuple[int, int, int, int], float]], reader: LabelReader,
          rgb: np.ndarray, *, lenient: bool, source: str, min_score: float = 0.5) -> None:
    """Read candidate boxes; each panel without a label takes its nearest plausible, confident one."""
    if not cands:
        return
    reads = read_labels(reader, rgb, [c[1] for c in cands], lenient=lenient)
    for (i, tb, _), r in sorted(zip(cands, reads), key=lambda t: t[0][2]):
        if r.label is not None and r.score >= min_score and results[i] is None:
            results[i] = (tb, replace(r, source=source))


def find_corner_blob(rgb: np.ndarray, region: Sequence[int], *, char_h: float = 10.0, from_right: bool = False,
                     from_bottom: bool = False, from_center: bool = False) -> tuple[int, int, int, int] | None:
    """A short, isolated, high-contrast text blob in `region`, nearest its corner; or None.

    The cheap complement of the text detector: it finds what the detector misses most, a lone
    letter on a solid patch (white on a black box, black on a white box) at a photo's corner.
    """
    x1, y1, x2, y2 = (int(v) for v in region)
    crop = rgb[y1:y2, x1:x2]
    if crop.size == 0 or min(crop.shape[:2]) < 6:
        return None
    grey = (np.minimum(np.minimum(crop[..., 0], crop[..., 1]), crop[..., 2]) if crop.ndim == 3 else crop).astype(np.int16)
    bg = int(np.median(grey))
    ink = np.abs(grey - bg) > 70
    lab, n = ndimage.label(ink, structure=np.ones((3, 3), bool))
    if n == 0:
        return None
    hmin, hmax = max(5.0, 0.6 * char_h), max(5.0, 3.0 * char_h)
    letters = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(lab)
               if 0.35 * hmin <= s[0].stop - s[0].start <= hmax and s[1].stop - s[1].start <= 2 * hmax]
    best, best_d = None, None
    for wb in _group_words(letters):
        bw, bh = wb[2] - wb[0], wb[3] - wb[1]
        if not (hmin <= bh <= hmax) or bw > 3.5 * bh or bw < 0.2 * bh or not _isolated(ink, wb, bh):
            continue
        dx = (abs((wb[0] + wb[2]) / 2 - crop.shape[1] / 2) if from_center
              else crop.shape[1] - wb[2] if from_right else wb[0])
        d = float(np.hypot(dx, crop.shape[0] - wb[3] if from_bottom else wb[1]))
        if best_d is None or d < best_d:
            best, best_d = wb, d
    return None if best is None else (x1 + best[0], y1 + best[1], x1 + best[2], y1 + best[3])


def _group_words(letters: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Merge letter boxes that sit side by side on one line into word boxes."""
    words: list[list[int]] = []
    for b in sorted(letters):
        for w in words:
            h = max(w[3] - w[1], b[3] - b[1])
            vover = min(w[3], b[3]) - max(w[1], b[1])
            if vover > 0.3 * min(w[3] - w[1], b[3] - b[1]) and b[0] - w[2] <= 0.35 * h:
                w[0], w[1], w[2], w[3] = min(w[0], b[0]), min(w[1], b[1]), max(w[2], b[2]), max(w[3], b[3])
                break
        else:
            words.append(list(b))
    return [tuple(w) for w in words]


def _isolated(ink: np.ndarray, wb: Sequence[int], bh: int) -> bool:
    """Little other ink in a ring half a letter wide around the word (the crop edge counts as free)."""
    m = max(2, int(0.5 * bh))
    x1, y1, x2, y2 = wb
    H, W = ink.shape
    X1, Y1, X2, Y2 = max(0, x1 - m), max(0, y1 - m), min(W, x2 + m), min(H, y2 + m)
    ring = ink[Y1:Y2, X1:X2].sum() - ink[y1:y2, x1:x2].sum()
    return ring <= 0.02 * (X2 - X1) * (Y2 - Y1)
