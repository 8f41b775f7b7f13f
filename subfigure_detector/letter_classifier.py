"""A tiny CNN that reads a panel label crop as letter + suffix ("A", "b1", "c′", "ii"), or says it is none.

Trained only on synthetic label crops (`synth/label_crops.py`, `train_letters.py`; data, recipe and
metrics in `weights/letters.json` and `weights/model_card.md`). It reads the same prepared crop as the
OCR reader (`label_reader.prepare_crop`: dark on white, 48 px high), shrunk to 24 x 64, in one batch
per call: about 0.2 ms a label on the CPU, crop preparation included, against ~2.3 ms for the PP-OCRv4
recogniser (bench/label_bench.py), and more accurate than it on the real gold labels.

Three heads: the first letter (A-Z or "not a label"), what follows it (nothing, a digit 1-9, one or
two primes, a roman I/II/III/V - so "ii" is I + I and "iv" is I + V), and upper/lower case. The text
it returns ("b1", "ii", "C'") goes through `label_reader.parse_label` like any reader's; the score is
p(letter) x p(suffix), case left out because the canonical label ignores it.

`CascadeReader` (the detector's default reader) puts it in front of the OCR reader: crops it reads as
a letter with a score below `threshold` are read again by OCR and the OCR text is used.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from subfigure_detector.synth.label_crops import LETTERS, NONE, SUFFIXES, to_input

DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "letters.onnx"


class LetterClassifier:
    """ONNX Runtime on the CPU; implements the `label_reader.LabelReader` protocol."""

    name = "letters"

    def __init__(self, path: str | Path | None = None, threads: int | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_MODEL
        self._threads = threads
        self._session = None
        self._lock = threading.Lock()

    @classmethod
    def available(cls, path: str | Path | None = None) -> bool:
        return (Path(path) if path else DEFAULT_MODEL).is_file()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared cores
            opts.intra_op_num_threads = self._threads or 1  # a few small convolutions: threads cost more than they give
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])

    def probabilities(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Softmax outputs (letter N x 27, suffix N x 16, lower N x 2) for prepared crops."""
        if self._session is None:
            self._load()
        x = np.stack([to_input(c) for c in crops]).astype(np.float32)
        x = (1.0 - x / 255.0)[:, None]
        letter, suffix, lower = self._session.run(None, {"x": x})
        return letter, suffix, lower

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        letter, suffix, lower = self.probabilities(crops)
        out = []
        for pl, ps, pc in zip(letter, suffix, lower):
            k, s = int(pl.argmax()), int(ps.argmax())
            if k == NONE:
                out.append(("", float(pl[k])))
                continue
            text = LETTERS[k] + SUFFIXES[s]
            if pc[1] > pc[0]:
                text = text.lower()
            out.append((text, float(pl[k] * ps[s])))
        return out


class CascadeReader:
    """The letter classifier first; OCR for the crops it is unsure of.

    With `trust_none`, a crop the classifier calls "not a label" is not read again whatever its
    score: most crops the corner search proposes are words, numbers and picture edges, and sending
    them all to OCR cost most of the reading time (bench/RESULTS.md).
    """

    def __init__(self, first, fallback, threshold: float = 0.9, trust_none: bool = True) -> None:
        self.first, self.fallback, self.threshold, self.trust_none = first, fallback, threshold, trust_none
        self.name = f"{first.name}+{fallback.name}"

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        out = self.first.read(crops)
        unsure = [i for i, (t, s) in enumerate(out) if s < self.threshold and not (self.trust_none and t == "")]
        if unsure and self.fallback is not None:
            for i, r in zip(unsure, self.fallback.read([crops[i] for i in unsure])):
                out[i] = r
        return out

