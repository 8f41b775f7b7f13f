"""Panel-label reading: canonical forms, the offline readers, finding unboxed labels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from support.fonts import dejavu

from subfigure_detector.label_reader import (
    TesseractReader,
    canonical_label,
    find_corner_blob,
    is_panel_label,
    make_reader,
    parse_label,
    plausible,
    prepare_crop,
    read_labels,
)
from subfigure_detector.synth.label_crops import label_sheet

FONT = dejavu()
GOLD_DIR = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-dev"

HAVE_RAPIDOCR = importlib.util.find_spec("rapidocr_onnxruntime") is not None


@pytest.mark.parametrize("raw, canon", [
    ("(a)", "A"), ("A", "A"), ("b1", "B1"), ("A1", "A1"), ("d.", "D"), ("B′", "B'"), ("ii", "II"),
    ("(iii)", "III"), ("[C]", "C"), ("e:", "E"), ("Ai", "AI"), ("", None), (None, None), ("a b c d e", None),
])
def test_canonical_label(raw, canon):
    assert canonical_label(raw) == canon


def test_panel_label_shapes():
    assert all(is_panel_label(x) for x in ["A", "B1", "B'", "II", "AIII", "C2"])
    assert not any(is_panel_label(x) for x in ["WT", "KO", "GFP", "400", "AB", None])
    assert parse_label("400") is None and parse_label("WT") is None
    assert parse_label("|") == "I", "a lone stroke is the letter I"
    assert parse_label("6") is None and parse_label("6", lenient=True) == "B", "digits only where a label is known"
    assert parse_label("i1i") == "III"
    assert parse_label("Al") == "A1" and parse_label("Ai") == "AI"


def test_plausible_drops_stray_letters_and_duplicates():
    labels = [("A", 0.9), ("B", 0.9), ("P", 0.95), ("C", 0.6), ("C", 0.9), (None, 0.0)]
    assert plausible(labels) == [True, True, False, False, True, False]


def _sheet(texts, size=28, fg=(0, 0, 0), bg=(255, 255, 255)):
    return label_sheet(texts, FONT, size, fg=fg, bg=bg, jpeg_quality=80)


def test_prepare_crop_makes_dark_letters_on_white():
    rgb, boxes = _sheet(["A"], fg=(255, 255, 255), bg=(40, 40, 40))
    crop = prepare_crop(rgb, boxes[0])
    assert crop.shape[0] == 48 and crop.dtype == np.uint8
    border = np.concatenate([crop[0, :, 0], crop[-1, :, 0]])
    assert border.mean() > 200, "white-on-dark labels are inverted"


@pytest.mark.skipif(not HAVE_RAPIDOCR or not FONT.exists(), reason="rapidocr-onnxruntime / DejaVu font missing")
@pytest.mark.parametrize("fg, bg", [((0, 0, 0), (255, 255, 255)), ((255, 255, 255), (50, 50, 50))])
def test_rapidocr_reads_rendered_labels_offline(fg, bg):
    texts = ["A", "b", "(c)", "A1", "d."]
    rgb, boxes = _sheet(texts, fg=fg, bg=bg)
    reads = read_labels(make_reader("rapidocr"), rgb, boxes)
    assert [r.label for r in reads] == ["A", "B", "C", "A1", "D"], [r.raw for r in reads]


@pytest.mark.skipif(not HAVE_RAPIDOCR, reason="rapidocr-onnxruntime missing")
def test_reads_real_gold_label_crops():
    from harvester.images import load_image
    from subfigure_detector.evaluate import load_gold

    ok = total = 0
    for fig in load_gold(GOLD_DIR / "gold-soda.json") + load_gold(GOLD_DIR / "gold.json"):
        labelled = [p for p in fig.panels if p.label and p.label_box]
        if not labelled:
            continue
        rgb = np.asarray(load_image(fig.image).rgb)
        for p, r in zip(labelled, read_labels(make_reader("rapidocr"), rgb, [p.label_box for p in labelled])):
            total += 1
            ok += r.label == canonical_label(p.label)
    assert total >= 20
    assert ok / total >= 0.9, f"read {ok}/{total} gold labels"


def test_corner_blob_finds_a_boxed_letter_on_a_photo():
    rng = np.random.default_rng(0)
    rgb = rng.integers(60, 140, (120, 160, 3)).astype(np.uint8)  # a noisy "photo"
    rgb[4:22, 4:20] = 0  # black label box...
    font = ImageFont.truetype(str(FONT), 14)
    im = Image.fromarray(rgb)
    ImageDraw.Draw(im).text((7, 5), "A", font=font, fill=(255, 255, 255))  # ...with a white letter
    box = find_corner_blob(np.asarray(im), (0, 0, 60, 40), char_h=10)
    assert box is not None and box[0] <= 6 and box[1] <= 6 and box[2] <= 24 and box[3] <= 26


def test_make_reader_choices():
    assert make_reader("none") is None
    with pytest.raises(ValueError):
        make_reader("nope")


@pytest.mark.skipif(not TesseractReader.available(), reason="tesseract-ocr is optional and not installed")
def test_tesseract_reader_is_optional_but_works():
    rgb, boxes = _sheet(["A", "(c)"])
    reads = read_labels(TesseractReader(), rgb, boxes)
    assert reads[0].label == "A"


def test_labels_centred_under_their_pictures_are_found():
    """A real figure (gold-v2, Hindawi style): "(a)"-"(f)" printed centred under each micrograph."""
    from subfigure_detector.detect import Detector

    image = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-v2" / "images" / "pdf-gr-PMC4709662-fig1.jpg"
    det = Detector().detect_one(str(image))
    assert [p.label for p in det.panels] == ["A", "B", "C", "D", "E", "F"]
    assert all(p.extra.get("label_source") in ("box", "blob", "text") for p in det.panels), "read, not inferred"
    assert all(p.label_box[1] > p.box[1] + (p.box[3] - p.box[1]) // 2 for p in det.panels), "under the picture"
