"""Split pictures that touch with no white gutter (CT slices side by side, butted micrographs) at their seams.

XY-cut needs a background gutter and YOLO at 320 px often sees one picture, so a row of butted
pictures comes back as one panel. Butted pictures are almost always equal tiles, and where two
pictures meet there is a seam: a band of uniform dark (the black surround of CT/MRI slices), a thin
light line narrower than a gutter, or a discontinuity (natural images are smooth, so adjacent columns
differ far more at a seam than anywhere else). A panel is cut into k equal tiles (largest k first,
up to `MAX_TILES`) when every cut position has a seam and the picture is not blocky (a heat map or
a chart has a discontinuity at every cell edge, not only at the cuts); then each tile is tried
the other way. Only applied to pictures (boxes filled with ink), and by the detector only to figures
without letters: under a letter, butted pictures are one panel.
"""

from __future__ import annotations

import numpy as np

from subfigure_detector.postprocess import Box, channel_max, channel_min

MAX_TILES = 6
MIN_TILE_PX = 80  # a tile narrower than this (working pixels) is too small to tell a seam from empty background
FILL = 0.9  # a picture fills this share of its box with ink
DARK, LIGHT = 45, 215  # channel max / min of a dark or light seam pixel
BAND_ROWS = 0.97  # share of a seam column's pixels that must be dark or light
MAX_BAND_SHARE = 0.2  # band columns inside a picture beyond this share: empty background, not seams
JUMP_RATIO = 4.0  # a discontinuity: on average this many times the picture's typical adjacent-column difference,
JUMP_ROWS = 0.6  # ...and more than twice the typical difference along this share of the column
MAX_EXTRA_JUMPS = 1  # discontinuities away from the cuts beyond this: a blocky picture, not butted tiles


def split_seams(rgb: np.ndarray, box: Box, mask: np.ndarray) -> list[Box]:
    """The tiles of the picture in `box` (image pixels), or [box] when it has no seams."""
    x1, y1, x2, y2 = box
    if x2 - x1 < 2 * MIN_TILE_PX and y2 - y1 < 2 * MIN_TILE_PX:
        return [box]
    if mask[y1:y2, x1:x2].mean() < FILL:
        return [box]
    out = []
    for col in _cut(rgb, box, axis=0):
        out += _cut(rgb, col, axis=1)
    return out


def _cut(rgb: np.ndarray, box: Box, axis: int) -> list[Box]:
    """Cut `box` into equal tiles along `axis` (0: vertical seams, tiles side by side; 1: stacked)."""
    x1, y1, x2, y2 = box
    crop = rgb[y1:y2, x1:x2]
    if axis == 1:
        crop = crop.transpose(1, 0, 2)
    length, across = crop.shape[1], crop.shape[0]
    if length < 2 * MIN_TILE_PX:
        return [box]
    seam, jumps = _seam_columns(crop)
    tol = max(3, round(0.02 * length))
    for k in range(min(MAX_TILES, length // MIN_TILE_PX), 1, -1):
        tile = length / k
        if not 0.25 <= tile / across <= 4:
            continue
        cuts = []
        for j in range(1, k):
            pos = round(j * tile)
            lo, hi = max(1, pos - tol), min(length - 1, pos + tol + 1)
            hits = np.flatnonzero(seam[lo:hi])
            if hits.size == 0:
                break
            cuts.append(lo + int(hits[np.argmin(np.abs(lo + hits - pos))]))
        if len(cuts) != k - 1:
            continue
        if sum(1 for x in jumps if min(abs(x - c) for c in cuts) > tol) > MAX_EXTRA_JUMPS:
            continue  # blocky (a heat map, chart cells): discontinuities everywhere, not only at the cuts
        edges = [0, *cuts, length]
        if axis == 0:
            return [(x1 + a, y1, x1 + b, y2) for a, b in zip(edges, edges[1:])]
        return [(x1, y1 + a, x2, y1 + b) for a, b in zip(edges, edges[1:])]
    return [box]


def _seam_columns(crop: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Per column: True where a seam may run (a dark or light band column, or a discontinuity);
    and where each run of discontinuity columns starts."""
    dark = (channel_max(crop) < DARK).mean(axis=0) >= BAND_ROWS
    light = (channel_min(crop) > LIGHT).mean(axis=0) >= BAND_ROWS
    grey = crop.astype(np.int16).sum(axis=2) // 3
    diff = np.abs(np.diff(grey, axis=1))  # diff[:, x - 1] compares columns x - 1 and x
    typical = float(np.median(diff.mean(axis=0))) + 1.0
    jump = np.zeros(crop.shape[1], bool)
    jump[1:] = (diff.mean(axis=0) >= JUMP_RATIO * typical) & ((diff > 2 * typical).mean(axis=0) >= JUMP_ROWS)
    # Bands only count inside the picture: a dark or light margin at its edge is no seam.
    seam = jump.copy()
    for band in (dark, light):
        inner = band.copy()
        for edge in (slice(None), slice(None, None, -1)):
            run = np.cumprod(band[edge]).astype(bool)
            inner[edge] &= ~run
        if inner.mean() <= MAX_BAND_SHARE:  # more is a sparse picture (fluorescence on black), not a seam
            seam |= inner
    starts = np.flatnonzero(jump & ~np.concatenate([[False], jump[:-1]]))
    return seam, [int(x) for x in starts]
