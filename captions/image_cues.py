"""Cheap image cues for modality: background, grey or colour, palette size and plot-like lines.

``measure(image)`` takes a ``PIL.Image``, shrinks it to at most ``SIDE`` pixels (JPEG ``draft``
decoding keeps this fast even for large figures) and returns ``ImageCues``, a set of fractions
computed with numpy. ``image_votes(image)`` turns the cues into a few modality votes, each with
a short note that says why. ``captions.modality.classify`` adds the votes to the text evidence.

The votes are deliberately small (≤ 1.5 in all), so that a caption naming a modality (2–3 per
phrase) decides. The votes settle captions that say little. Each vote encodes one pattern:

| cue | vote |
|---|---|
| mostly white background, small palette | ``graphics`` |
| … plus thin horizontal and vertical dark lines (axes) | ``graphics.chart`` |
| mostly black background with saturated colour | ``microscopy.fluorescence`` |
| pink/purple stain hues | ``microscopy.light`` (H&E) |
| light background, brown (DAB) hues | ``microscopy.ihc`` |
| grey, dark surround, full tonal range | ``radiology`` |
| grey, no background, mid-tone texture | ``microscopy.electron`` |
| many colours, little white or black, not stain-like | ``photography`` |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

__all__ = ["ImageCues", "SIDE", "image_votes", "measure"]

SIDE = 160
LINE_SIDE = 400  # axis lines are looked for on a larger copy: thin strokes vanish at SIDE


@dataclass(frozen=True, slots=True)
class ImageCues:
    white: float  # share of near-white pixels (all channels > 230)
    black: float  # share of near-black pixels (all channels < 35)
    grey: float  # share of the pixels that are neither white nor black with channel spread < 20
    colours: int  # distinct 4-bit-per-channel colours covering ≥ 0.2 % of the pixels
    saturation: float  # mean channel spread of pixels that are neither white nor black, / 255
    edges: float  # share of pixels whose grey gradient exceeds 48
    light: float  # share of pixels brighter than 200 (grey level): a lit background
    h_lines: int  # thin dark horizontal lines spanning ≥ 40 % of the width (axes, frames, rules)
    v_lines: int  # thin dark vertical lines spanning ≥ 40 % of the height
    pink: float  # share of non-white pixels with H&E-like hue (R > G, B > G, pink to purple)
    brown: float  # share of non-white pixels with DAB-like hue (R > G > B, dark orange-brown)
    vivid: float  # share of pixels that are saturated (spread > 80): fluorophores, charts, photos

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _rgb(image: Image.Image, side: int) -> Image.Image:
    """An RGB copy no larger than ``side`` (transparent areas become white)."""
    im = image
    if im.format == "JPEG" and max(im.size) > 4 * side:
        try:
            im.draft("RGB", (side * 2, side * 2))
        except Exception:  # noqa: BLE001 — draft is only a speed-up
            pass
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    if max(im.size) > side:
        im = im.copy()
        im.thumbnail((side, side), Image.Resampling.BILINEAR)
    return im


def _thin_lines(dark: np.ndarray, min_span: float = 0.4) -> int:
    """Rows of ``dark`` that are dark over ≥ ``min_span`` of their length while the row three
    above or the row three below is mostly not: thin straight lines such as plot axes (bars may
    stand on an axis, so only one side needs to be clear)."""
    if dark.shape[0] < 8:
        return 0
    frac = dark.mean(axis=1)
    pad = np.pad(frac, 3, mode="edge")
    around = np.minimum(pad[:-6], pad[6:])
    lines = (frac >= min_span) & (around <= 0.25)
    # count runs, not rows: a 2-pixel-thick axis is one line
    return int(np.count_nonzero(np.diff(np.concatenate(([0], lines.astype(np.int8)))) == 1))


def measure(image: Image.Image) -> ImageCues:
    """Cues of an image (any mode, any size ≥ 1×1)."""
    big = _rgb(image, LINE_SIDE)
    dark_big = np.asarray(big.convert("L")) < 128
    h_lines = _thin_lines(dark_big)
    v_lines = _thin_lines(dark_big.T)
    small = big.copy()
    small.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
    a = np.asarray(small, dtype=np.int16)
    h, w, _ = a.shape
    n = float(h * w)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    mx = a.max(axis=2)
    mn = a.min(axis=2)
    spread = mx - mn
    white = mn > 230
    black = mx < 35
    body = ~(white | black)
    nbody = max(1, int(body.sum()))

    q = (a >> 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    colours = int((counts >= max(1.0, 0.002 * n)).sum())

    lum = (r.astype(np.int32) * 299 + g.astype(np.int32) * 587 + b.astype(np.int32) * 114) // 1000
    gx = np.abs(np.diff(lum, axis=1))
    gy = np.abs(np.diff(lum, axis=0))
    edges = (float((gx > 48).sum()) + float((gy > 48).sum())) / (2 * n)

    pink = body & (r > g + 25) & (b > g + 10) & (r > 110)
    brown = body & (r > g + 12) & (g > b + 8) & (r < 210) & (r > 60)
    return ImageCues(
        white=float(white.mean()),
        black=float(black.mean()),
        grey=float((spread[body] < 20).mean()) if body.any() else 1.0,
        colours=colours,
        saturation=float(spread[body].mean() / 255.0) if body.any() else 0.0,
        edges=edges,
        light=float((lum > 200).mean()),
        h_lines=h_lines,
        v_lines=v_lines,
        pink=float(pink.sum() / nbody),
        brown=float(brown.sum() / nbody),
        vivid=float((spread > 80).mean()),
    )


def image_votes(image: Image.Image) -> list[tuple[str, float, str]]:
    """``(code, weight, note)`` votes from the cues of ``image``; [] for images too small to judge."""
    if image.size[0] < 8 or image.size[1] < 8:
        return []
    c = measure(image)
    votes: list[tuple[str, float, str]] = []
    mid = 1.0 - c.white - c.black
    if c.white >= 0.5 and c.colours <= 60 and c.pink < 0.3 and c.brown < 0.3:
        votes.append(("graphics", 0.8, f"white background {c.white:.0%}, {c.colours} colours"))
        if c.h_lines >= 1 and c.v_lines >= 1 and c.h_lines + c.v_lines <= 12:
            votes.append(("graphics.chart", 0.7, f"axis-like lines ({c.h_lines} horizontal, {c.v_lines} vertical)"))
    elif c.black >= 0.3 and c.grey < 0.9 and c.vivid >= 0.03:
        votes.append(("microscopy.fluorescence", 1.0, f"black background {c.black:.0%} with saturated colour"))
    elif c.grey >= 0.92 and c.white < 0.3:
        if c.black >= 0.3:
            votes.append(("radiology", 0.6, f"greyscale with dark surround ({c.black:.0%})"))
        elif c.black < 0.2 and c.white < 0.25:
            votes.append(("microscopy.electron", 0.5, "greyscale mid-tone texture, no background"))
    elif mid >= 0.35 and c.pink >= 0.35 and c.brown < 0.25:
        votes.append(("microscopy.light", 0.9, f"pink/purple stain hues ({c.pink:.0%})"))
    elif c.light >= 0.15 and mid >= 0.35 and c.brown >= 0.2:
        votes.append(("microscopy.ihc", 0.9, f"brown (DAB-like) hues ({c.brown:.0%}) on a light background"))
    elif c.colours >= 60 and c.white < 0.3 and c.black < 0.3 and c.grey < 0.6:
        votes.append(("photography", 0.5, f"photographic: {c.colours} colours, little white or black"))
    return votes
