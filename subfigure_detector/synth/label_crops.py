"""Synthetic panel-label crops for the letter classifier (`subfigure_detector/letter_classifier.py`).

Each sample is a small patch of a made-up figure with one printed panel label on it, boxed roughly
as the detector would box it, then cut out with `label_reader.prepare_crop` (the exact preparation
used at inference) and shrunk to the classifier's input. What varies, because real labels vary:

- text: a letter (upper/lower), a letter with a digit, prime or roman sub-number ("A1", "b′", "Aii"),
  a roman numeral ("ii", "iv"), each in a format: "A", "(a)", "a)", "a.", "[a]";
- font: Arial-like Liberation Sans (most journals) and DejaVu Sans, bold and regular, serif
  (Liberation Serif ≈ Times, DejaVu Serif, STIX), condensed, mono, a few italics;
- look: dark on white/grey, white on a photo or a black box, coloured, circled (MedICaT-style
  letters in a ring), on a filled box; cap height 5-48 px, blurred by down/up-scaling, JPEG q 30-95;
- clutter: axis lines, tick marks, neighbouring words and the edge of the next picture near the
  label, photo texture behind it;
- box: the glyphs' ink box with random growth/shrink and shift (YOLO boxes at 320 px are loose).

Negatives ("not a label", class `NONE`): words and abbreviations from plots ("WT", "GFP", "n.s."),
numbers ("100", "0.5", lone digits: tick labels), symbols ("*", "#"), two letters ("AB"), pieces
of axes, photo texture, cut-off glyphs.

Every sample depends only on (seed, index): `render_sample(seed, i)`. Fonts come from matplotlib's
bundled set plus the Debian `fonts-liberation` and `fonts-dejavu` files when installed
(`font_files()` lists what was used; the training recipe records it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from subfigure_detector.label_reader import prepare_crop

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NONE = len(LETTERS)  # letter-head class for "not a panel label"
# Everything after the first letter of a canonical label (roman numerals decompose the same way:
# "ii" = I + "I", "iv" = I + "V", "vi" = V + "I").
SUFFIXES = ("", "1", "2", "3", "4", "5", "6", "7", "8", "9", "'", "''", "I", "II", "III", "V")
INPUT_H, INPUT_W = 24, 64  # classifier input (grey), after prepare_crop's 48 px height

SYSTEM_FONT_DIRS = (Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/truetype/dejavu"))
# (file, weight): journals set panel letters mostly in Arial/Helvetica bold.
FONT_WEIGHTS = {
    "LiberationSans-Bold.ttf": 0.24, "LiberationSans-Regular.ttf": 0.1, "DejaVuSans-Bold.ttf": 0.12,
    "DejaVuSans.ttf": 0.06, "LiberationSerif-Bold.ttf": 0.06, "LiberationSerif-Regular.ttf": 0.05,
    "STIXGeneralBol.ttf": 0.04, "STIXGeneral.ttf": 0.03, "DejaVuSerif-Bold.ttf": 0.03, "DejaVuSerif.ttf": 0.02,
    "LiberationSansNarrow-Bold.ttf": 0.03, "DejaVuSansCondensed-Bold.ttf": 0.03, "LiberationSans-Italic.ttf": 0.02,
    "LiberationSans-BoldItalic.ttf": 0.02, "DejaVuSansMono-Bold.ttf": 0.02, "LiberationMono-Regular.ttf": 0.01,
    "STIXGeneralItalic.ttf": 0.02, "DejaVuSans-Oblique.ttf": 0.01, "LiberationSerif-Italic.ttf": 0.02,
    "cmss10.ttf": 0.01, "cmr10.ttf": 0.01,
}
FORMATS = {"{}": 0.62, "({})": 0.14, "{})": 0.07, "{}.": 0.1, "[{}]": 0.03, "{}:": 0.02, "({}) ": 0.02}
NEGATIVE_TEXTS = ("WT", "KO", "GFP", "DAPI", "Ctrl", "n.s.", "ns", "***", "**", "*", "#", "p<0.05", "100", "50", "0.5",
                  "10", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "25", "1.0", "µm", "10 µm", "mV", "h", "kDa",
                  "AB", "CD", "Ab", "Day", "IgG", "%", "+", "-", "ms", "Fold", "nM", "x10", "0.1", "200", "-1", "α", "β",
                  "Merge", "Actin", "Time", "log", "a.u.", "TNF", "LPS", "HE", "→", "↑", "Pre", "Post", "ROI")


@dataclass
class Sample:
    crop: np.ndarray  # INPUT_H x INPUT_W uint8 grey, dark on white
    letter: int  # 0-25, or NONE
    suffix: int  # index into SUFFIXES (0 for negatives)
    lower: int  # 1 when the letters are lower case
    text: str  # what was printed


def font_files() -> dict[str, Path]:
    """The fonts of FONT_WEIGHTS that are present: matplotlib's bundled ones, then the system's."""
    import matplotlib

    dirs = [Path(matplotlib.get_data_path()) / "fonts" / "ttf", *SYSTEM_FONT_DIRS]
    out = {}
    for name in FONT_WEIGHTS:
        for d in dirs:
            if (d / name).is_file():
                out[name] = d / name
                break
    return out


def label_sheet(texts: list[str], font_path: Path, size: int, *, fg=(0, 0, 0), bg=(255, 255, 255),
                jpeg_quality: int = 80) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A row of printed labels and the box of each, saved through JPEG as figures are: the test and
    benchmark input of label readers (real fonts, known positions)."""
    font = _font(str(font_path), size)
    cell = 4 * size
    im = Image.new("RGB", (cell * len(texts), 3 * size), bg)
    draw = ImageDraw.Draw(im)
    boxes = []
    for k, text in enumerate(texts):
        l, t, r, b = font.getbbox(text)
        x, y = k * cell + size // 2, size
        draw.text((x - l, y - t), text, font=font, fill=fg)
        boxes.append((x, y, x + r - l, y + b - t))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=jpeg_quality)
    return np.asarray(Image.open(buf).convert("RGB")), boxes


@lru_cache(maxsize=4096)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    from subfigure_detector.synth.photos import packaged_images

    return tuple(packaged_images())


def _choice(rng: np.random.Generator, weights: dict) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_text(rng: np.random.Generator) -> tuple[str, int, int, int]:
    """(core text, letter class, suffix class, lower) of a positive label, before formatting."""
    r = rng.random()
    lower = int(rng.random() < 0.45)
    if r < 0.1:  # roman numeral alone
        roman = ["i", "ii", "iii", "iv", "v", "vi"][int(rng.choice(6, p=[0.3, 0.3, 0.2, 0.1, 0.06, 0.04]))]
        core = roman if lower else roman.upper()
        letter = LETTERS.index(roman[0].upper())
        return core, letter, SUFFIXES.index(roman[1:].upper()), lower
    # Early letters are far more common on real figures.
    k = int(min(25, rng.geometric(0.16) - 1)) if rng.random() < 0.8 else int(rng.integers(26))
    ch = LETTERS[k]
    r2 = rng.random()
    if r2 < 0.72:
        suffix = ""
    elif r2 < 0.86:
        suffix = str(int(rng.integers(1, 10)) if rng.random() < 0.3 else int(rng.integers(1, 4)))
    elif r2 < 0.93:
        suffix = "'" if rng.random() < 0.85 else "''"
    else:
        suffix = ["I", "II", "III"][int(rng.integers(3))]
    shown = ch.lower() if lower else ch
    if suffix in ("'", "''"):
        shown += suffix.replace("'", "′" if rng.random() < 0.6 else "'")
    elif suffix.isdigit():
        shown += suffix
    elif suffix:
        shown += (" " if rng.random() < 0.3 else "") + (suffix.lower() if lower or rng.random() < 0.7 else suffix)
    return shown, k, SUFFIXES.index(suffix), lower


def _colour_pair(rng: np.random.Generator, photo: bool) -> tuple[tuple[int, int, int], tuple[int, int, int], str]:
    """(ink, background, kind)."""
    r = rng.random()
    if photo or r < 0.18:  # light letters on a dark ground
        ink = tuple(int(v) for v in rng.integers(215, 256, 3)) if rng.random() < 0.85 else (255, 255, 0)
        bg = tuple(int(v) for v in rng.integers(0, 90, 3))
        return ink, bg, "light"
    bg_v = int(rng.integers(225, 256)) if rng.random() < 0.85 else int(rng.integers(170, 230))
    bg = (bg_v, bg_v, bg_v) if rng.random() < 0.85 else tuple(int(v) for v in np.clip(bg_v - rng.integers(0, 40, 3), 0, 255))
    if rng.random() < 0.85:
        v = int(rng.integers(0, 70))
        ink = (v, v, v)
    else:
        ink = tuple(int(v) for v in rng.integers(0, 180, 3))
        ink = (ink[0], ink[1] // 3, ink[2]) if rng.random() < 0.5 else ink
    return ink, bg, "dark"


def _background(rng: np.random.Generator, h: int, w: int, bg: tuple[int, int, int], kind: str) -> Image.Image:
    base = np.empty((h, w, 3), np.uint8)
    base[:] = bg
    if kind == "light" and rng.random() < 0.75:  # a photo behind white letters
        photos = _photos()
        if photos:
            src = photos[int(rng.integers(len(photos)))]
            sh, sw = src.shape[:2]
            scale = rng.uniform(0.3, 2.0)
            th, tw = max(1, int(h / scale)), max(1, int(w / scale))
            if th < sh and tw < sw:
                y, x = int(rng.integers(0, sh - th)), int(rng.integers(0, sw - tw))
                patch = Image.fromarray(src[y:y + th, x:x + tw]).resize((w, h), Image.BILINEAR)
                arr = np.asarray(patch).astype(np.float32) * rng.uniform(0.25, 0.7)
                base = np.clip(arr, 0, 255).astype(np.uint8)
    elif kind == "light":
        noise = rng.normal(0, rng.uniform(2, 25), (h, w, 1))
        base = np.clip(base.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(base)


def _clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, size: tuple[int, int], keep_out: tuple[int, int, int, int],
             ink: tuple[int, int, int], cap: int, fonts: dict[str, Path]) -> None:
    """Axis lines, ticks and words around (not over) the label."""
    w, h = size
    x1, y1, x2, y2 = keep_out
    gap = max(2, int(cap * rng.uniform(0.3, 1.5)))
    for _ in range(int(rng.integers(0, 4))):
        r = rng.random()
        col = ink if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(0, 256, 3))
        lw = int(rng.integers(1, max(2, cap // 6) + 1))
        if r < 0.3:  # vertical axis line right of the label
            x = min(w - 1, x2 + gap)
            draw.line([(x, int(rng.integers(0, h // 2))), (x, h)], fill=col, width=lw)
        elif r < 0.55:  # horizontal line below the label
            y = min(h - 1, y2 + gap)
            draw.line([(int(rng.integers(0, w // 2)), y), (w, y)], fill=col, width=lw)
        elif r < 0.85:  # a neighbouring word
            name = _choice(rng, {k: FONT_WEIGHTS[k] for k in fonts})
            f = _font(str(fonts[name]), max(6, int(cap * rng.uniform(0.6, 1.1) / 0.72)))
            word = NEGATIVE_TEXTS[int(rng.integers(len(NEGATIVE_TEXTS)))]
            side = rng.random()
            if side < 0.5:
                draw.text((x2 + gap + cap, y1 + int(rng.integers(-cap, cap + 1))), word, font=f, fill=col)
            else:
                draw.text((x1 + int(rng.integers(-cap, cap + 1)), y2 + gap + cap // 2), word, font=f, fill=col)
        elif r < 0.92:  # tick marks
            y = min(h - 1, y2 + gap)
            for t in range(x1, w, max(4, cap)):
                draw.line([(t, y), (t, y + max(2, cap // 3))], fill=col, width=1)
        else:  # the edge of a neighbouring picture just right of or below the label
            g = max(1, int(cap * rng.uniform(0.1, 0.8)))
            v = int(rng.integers(40, 200))
            if rng.random() < 0.6:
                draw.rectangle([x2 + g, int(rng.integers(0, max(1, y1))), w, h], fill=(v, v, v))
            else:
                draw.rectangle([int(rng.integers(0, max(1, x1))), y2 + g, w, h], fill=(v, v, v))


def render_sample(seed: int, index: int, fonts: dict[str, Path] | None = None) -> Sample:
    rng = np.random.default_rng([seed, index])
    fonts = fonts or font_files()
    negative = rng.random() < 0.2
    if negative:
        r = rng.random()
        text = NEGATIVE_TEXTS[int(rng.integers(len(NEGATIVE_TEXTS)))] if r < 0.75 else ""
        letter, suffix, lower = NONE, 0, 0
    else:
        core, letter, suffix, lower = sample_text(rng)
        text = _choice(rng, FORMATS).format(core).strip()
    name = _choice(rng, {k: FONT_WEIGHTS[k] for k in fonts})
    cap = int(np.clip(rng.lognormal(np.log(12), 0.55), 5, 48))
    font = _font(str(fonts[name]), max(6, int(round(cap / 0.72))))
    style = rng.random()
    photo = style < 0.2
    ink, bg, kind = _colour_pair(rng, photo)
    tb = font.getbbox(text) if text else (0, 0, cap, cap)
    tw, th = max(1, tb[2] - tb[0]), max(1, tb[3] - tb[1])
    pad = int(cap * 2.5)
    W, H = tw + 2 * pad, th + 2 * pad
    im = _background(rng, H, W, bg, kind)
    draw = ImageDraw.Draw(im)
    ox, oy = pad - tb[0], pad - tb[1]
    glyph_box = (pad, pad, pad + tw, pad + th)
    if not negative and 0.2 <= style < 0.28:  # a filled box behind the letter (white on black or black on white)
        m = max(1, int(cap * rng.uniform(0.1, 0.4)))
        box_col = (0, 0, 0) if kind == "light" or rng.random() < 0.5 else (255, 255, 255)
        ink = (255, 255, 255) if box_col == (0, 0, 0) else (0, 0, 0)
        draw.rectangle([glyph_box[0] - m, glyph_box[1] - m, glyph_box[2] + m, glyph_box[3] + m], fill=box_col)
    elif not negative and 0.28 <= style < 0.33:  # a circled letter
        c = ((glyph_box[0] + glyph_box[2]) / 2, (glyph_box[1] + glyph_box[3]) / 2)
        rad = 0.5 * max(tw, th) * rng.uniform(1.25, 1.6)
        draw.ellipse([c[0] - rad, c[1] - rad, c[0] + rad, c[1] + rad], outline=ink, width=max(1, cap // 8),
                     fill=None if rng.random() < 0.6 else (255, 255, 255))
    if text:
        draw.text((ox, oy), text, font=font, fill=ink)
    elif rng.random() < 0.5:  # a piece of an axis or a photo edge
        draw.line([(pad, pad), (pad, pad + th), (pad + tw, pad + th)], fill=ink, width=max(1, cap // 8))
    _clutter(rng, draw, (W, H), glyph_box, ink, cap, fonts)
    # Blur like a downscaled figure, then JPEG.
    if rng.random() < 0.5:
        f = rng.uniform(0.4, 0.9)
        small = im.resize((max(1, int(W * f)), max(1, int(H * f))), Image.BOX)
        im = small.resize((W, H), Image.BILINEAR)
    if rng.random() < 0.15:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.integers(30, 96)))
    arr = np.asarray(Image.open(buf).convert("RGB"))
    # The box handed to the reader: the ink box, grown/shrunk and shifted as a detector would.
    x1, y1, x2, y2 = glyph_box
    if rng.random() < 0.8:
        jit = rng.uniform(-0.15, 0.4, 4) * th
        jit += rng.normal(0, 0.08 * th, 4)
        x1, y1 = x1 - jit[0], y1 - jit[1]
        x2, y2 = x2 + jit[2], y2 + jit[3]
    if negative and not text and rng.random() < 0.5:  # a cut-off glyph: box over part of a letter
        x2 = x1 + 0.4 * (x2 - x1)
    box = (int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
    if box[2] <= box[0] + 1 or box[3] <= box[1] + 1:
        box = glyph_box
    inv = None if rng.random() < 0.8 else bool(rng.random() < 0.5)  # both polarities reach the model
    crop = to_input(prepare_crop(arr, box, invert=inv))
    return Sample(crop, letter, suffix, lower, text)


def to_input(prepared: np.ndarray) -> np.ndarray:
    """prepare_crop's output (48 px high, 3 equal channels) → INPUT_H x INPUT_W grey, padded white on the right."""
    grey = prepared[..., 0] if prepared.ndim == 3 else prepared
    h, w = grey.shape
    nw = max(1, min(INPUT_W, int(round(w * INPUT_H / max(1, h)))))
    im = Image.fromarray(grey).resize((nw, INPUT_H), Image.BILINEAR)
    out = np.full((INPUT_H, INPUT_W), 255, np.uint8)
    out[:, :nw] = np.asarray(im)
    return out


def render_dataset(seed: int, n: int, start: int = 0) -> dict[str, np.ndarray]:
    """Samples start..start+n-1 as arrays: x (n, INPUT_H, INPUT_W) uint8, letter, suffix, lower."""
    fonts = font_files()
    samples = [render_sample(seed, start + i, fonts) for i in range(n)]
    return {"x": np.stack([s.crop for s in samples]), "letter": np.array([s.letter for s in samples], np.int64),
            "suffix": np.array([s.suffix for s in samples], np.int64),
            "lower": np.array([s.lower for s in samples], np.int64)}
