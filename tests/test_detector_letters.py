"""The panel-letter classifier: synthetic training crops, the shipped ONNX model, the OCR cascade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.fonts import dejavu

from subfigure_detector.label_reader import canonical_label, make_reader, read_labels
from subfigure_detector.letter_classifier import CascadeReader, LetterClassifier
from subfigure_detector.synth.label_crops import (
    INPUT_H,
    INPUT_W,
    LETTERS,
    NONE,
    SUFFIXES,
    label_sheet,
    render_sample,
)

GOLD_DIR = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-dev"
HAVE_MODEL = LetterClassifier.available()


def _sheet(texts, size=24, fg=(0, 0, 0), bg=(255, 255, 255)):
    return label_sheet(texts, dejavu(), size, fg=fg, bg=bg, jpeg_quality=85)


def test_training_crops_are_deterministic_and_well_formed():
    a, b = render_sample(5, 17), render_sample(5, 17)
    assert a.crop.shape == (INPUT_H, INPUT_W) and a.crop.dtype == np.uint8
    assert np.array_equal(a.crop, b.crop) and a.text == b.text, "sample i depends only on (seed, i)"
    assert not np.array_equal(render_sample(6, 17).crop, a.crop)
    samples = [render_sample(0, i) for i in range(300)]
    negatives = [s for s in samples if s.letter == NONE]
    assert 0.1 < len(negatives) / len(samples) < 0.3, "about a fifth are 'not a label'"
    for s in samples:
        if s.letter != NONE and s.text:
            canon = LETTERS[s.letter] + SUFFIXES[s.suffix]
            assert canonical_label(s.text.replace(" ", "")) == canon, (s.text, canon)


@pytest.mark.skipif(not HAVE_MODEL, reason="weights/letters.onnx not shipped")
@pytest.mark.parametrize("fg, bg", [((0, 0, 0), (255, 255, 255)), ((255, 255, 255), (40, 40, 40))])
def test_classifier_reads_rendered_labels(fg, bg):
    texts = ["A", "b", "(c)", "D", "e.", "B1", "ii"]
    rgb, boxes = _sheet(texts, fg=fg, bg=bg)
    reads = read_labels(LetterClassifier(), rgb, boxes, lenient=True)
    assert [r.label for r in reads] == ["A", "B", "C", "D", "E", "B1", "II"], [r.raw for r in reads]


@pytest.mark.skipif(not HAVE_MODEL, reason="weights/letters.onnx not shipped")
def test_classifier_says_none_for_words_and_numbers():
    rgb, boxes = _sheet(["WT", "100", "GFP", "0.5"], size=20)
    reads = read_labels(LetterClassifier(), rgb, boxes)
    assert sum(r.label is None for r in reads) >= 3, [r.raw for r in reads]


def test_cascade_sends_only_unsure_crops_to_the_fallback():
    class Fixed:
        name = "fixed"

        def __init__(self, out):
            self.out, self.seen = out, 0

        def read(self, crops):
            self.seen += len(crops)
            return self.out[:len(crops)]

    crops = [np.zeros((48, 48, 3), np.uint8)] * 4
    first = Fixed([("A", 0.99), ("B", 0.4), ("", 0.95), ("", 0.3)])
    fallback = Fixed([("b", 0.9)])
    cascade = CascadeReader(first, fallback, threshold=0.9)
    assert cascade.read(crops) == [("A", 0.99), ("b", 0.9), ("", 0.95), ("", 0.3)], "'not a label' is trusted"
    assert fallback.seen == 1 and cascade.name == "fixed+fixed"
    doubting = CascadeReader(Fixed(first.out), Fixed([("b", 0.9), ("(c)", 0.8)]), threshold=0.9, trust_none=False)
    assert doubting.read(crops)[3] == ("(c)", 0.8)


@pytest.mark.skipif(not HAVE_MODEL, reason="weights/letters.onnx not shipped")
def test_default_reader_reads_real_gold_label_crops():
    from harvester.images import load_image
    from subfigure_detector.evaluate import load_gold

    reader = make_reader("auto")
    assert isinstance(reader, (CascadeReader, LetterClassifier))
    ok = total = 0
    for fig in load_gold(GOLD_DIR / "gold-soda.json") + load_gold(GOLD_DIR / "gold.json"):
        labelled = [p for p in fig.panels if p.label and p.label_box]
        if not labelled:
            continue
        rgb = np.asarray(load_image(fig.image).rgb)
        for p, r in zip(labelled, read_labels(reader, rgb, [p.label_box for p in labelled], lenient=True)):
            total += 1
            ok += r.label == canonical_label(p.label)
    assert total >= 20
    assert ok / total >= 0.9, f"read {ok}/{total} gold labels"
