"""Printed panel labels: the text sequence of a figure (A, B, C / (a), (b) / i, ii / A1, A2 / b′)
and the fonts they are set in, drawn as tight glyph masks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from subfigure_detector.synth.layouts import sample_discrete

# Fonts bundled with matplotlib, so the same figures come out on every machine; STIX ≈ Times.
FONT_WEIGHTS = {
    "DejaVuSans-Bold.ttf": 0.34, "DejaVuSans.ttf": 0.14, "DejaVuSerif-Bold.ttf": 0.1, "DejaVuSerif.ttf": 0.05,
    "STIXGeneralBol.ttf": 0.14, "STIXGeneral.ttf": 0.06, "DejaVuSansMono-Bold.ttf": 0.03,
    "DejaVuSans-BoldOblique.ttf": 0.02, "STIXGeneralItalic.ttf": 0.02, "DejaVuSansMono.ttf": 0.02,
    "DejaVuSerif-Italic.ttf": 0.02, "STIXGeneralBolIta.ttf": 0.02, "DejaVuSans-Oblique.ttf": 0.02,
    "DejaVuSerif-BoldItalic.ttf": 0.02,
}
FORMATS = {"{}": 0.7, "({})": 0.12, "{})": 0.07, "{}.": 0.08, "[{}]": 0.03}
ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=512)
def load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_dir() / name), size)


def _base_sequence(rng: np.random.Generator, n: int, kind: str) -> list[str]:
    if kind == "digit":
        return [str(i + 1) for i in range(n)]
    if kind == "roman":
        return [ROMAN[i % len(ROMAN)] for i in range(n)]
    letters = [LETTERS[i % 26] + ("" if i < 26 else str(i // 26)) for i in range(n)]
    if kind == "sub":  # A, B1, B2, C ... : split some letters into numbered sub-panels
        out, letter = [], 0
        while len(out) < n:
            k = int(rng.integers(2, 4)) if rng.random() < 0.4 else 1
            k = min(k, n - len(out))
            out += [LETTERS[letter % 26]] if k == 1 else [f"{LETTERS[letter % 26]}{j + 1}" for j in range(k)]
            letter += 1
        letters = out
    elif kind == "prime":  # a, a′, b, b′ ...
        letters = [LETTERS[(i // 2) % 26] + ("′" if i % 2 else "") for i in range(n)]
    lower = rng.random() < 0.22 if kind in ("sub", "prime") else kind == "lower"
    return [t.lower() if lower else t for t in letters]


@dataclass(frozen=True)
class LabelStyle:
    """How one figure prints its panel labels."""

    font: str
    fmt: str
    texts: tuple[str, ...]


def sample_label_style(rng: np.random.Generator, n: int, stats: dict, hint_texts: list[str] | None = None) -> LabelStyle:
    """Label texts for n panels in reading order; follows the letters of a real layout when given."""
    font = sample_discrete(rng, FONT_WEIGHTS)
    fmt = sample_discrete(rng, FORMATS)
    if hint_texts and all(hint_texts) and rng.random() < 0.7:
        texts = list(hint_texts)
        if rng.random() < 0.3:  # same sequence, other case
            texts = [t.swapcase() for t in texts]
    else:
        r = rng.random()
        if r < 0.03:
            kind = "roman"
        elif r < 0.08:
            kind = "sub"
        elif r < 0.1:
            kind = "prime"
        elif r < 0.12:
            kind = "digit"
        else:
            kind = sample_discrete(rng, {k: v for k, v in stats["label_kind"].items() if k in ("upper", "lower")})
        texts = _base_sequence(rng, n, kind)
    return LabelStyle(font, fmt, tuple(fmt.format(t) for t in texts))


def glyph_mask(text: str, font: str, cap_height_px: float) -> np.ndarray:
    """The label's ink as a uint8 alpha mask cropped tight (cap height ≈ `cap_height_px`)."""
    size = max(6, int(round(cap_height_px / 0.73)))  # cap height is ~73% of the em size in these fonts
    f = load_font(font, size)
    pad = size // 2
    x1, y1, x2, y2 = f.getbbox(text)
    im = Image.new("L", (int(x2 - x1) + 2 * pad, int(y2 - y1) + 2 * pad), 0)
    ImageDraw.Draw(im).text((pad - x1, pad - y1), text, font=f, fill=255)
    a = np.asarray(im)
    rows = np.flatnonzero((a > 64).any(axis=1))
    cols = np.flatnonzero((a > 64).any(axis=0))
    if rows.size == 0:
        return np.zeros((1, 1), np.uint8)
    return np.ascontiguousarray(a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
