"""Pixel helpers shared by the synthetic-figure modules: ink bounding boxes and trimming."""

from __future__ import annotations

import numpy as np
from PIL import Image

# A pixel counts as ink when any channel differs from the background by more than this; below it
# lie JPEG ringing and anti-aliasing haze that annotators do not count as content.
INK_THRESHOLD = 24


def ink_bbox(rgb: np.ndarray, bg: tuple[int, int, int], threshold: int = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2), exclusive ends, of pixels differing from `bg`; None if there are none."""
    diff = np.abs(rgb.astype(np.int16) - np.asarray(bg, dtype=np.int16)).max(axis=-1) > threshold
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def ink_bbox_image(im: Image.Image, bg: tuple[int, int, int], threshold: int = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """`ink_bbox` of an RGB PIL image, computed in PIL (a lookup table per band, then getbbox):
    ~10x faster than the numpy version, and it runs on every panel of every figure."""
    lut = [255 if abs(v - c) > threshold else 0 for c in bg for v in range(256)]
    return im.point(lut).getbbox()


def trim(rgb: np.ndarray, bg: tuple[int, int, int], threshold: int = INK_THRESHOLD) -> np.ndarray:
    """Crop `rgb` to its ink bounding box (unchanged if it has no ink)."""
    b = ink_bbox(rgb, bg, threshold)
    if b is None:
        return rgb
    return np.ascontiguousarray(rgb[b[1] : b[3], b[0] : b[2]])
