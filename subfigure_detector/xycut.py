"""Whitespace-gutter (recursive XY-cut) panel splitter: the detector's fallback and second opinion.

Nagy & Seth's XY-cut (1984) applied to figures. Ink is `min(RGB)` darker than the background
(adaptive threshold, inverted on dark backgrounds). A region is cut along every background band
("gutter") that crosses it completely and is at least `min_gap` wide, on the axis with the widest
gutter, recursively, down to pieces with no gutter left. Figures are noisier than printed pages:

- a gutter line may hold a few ink pixels (JPEG ringing, a dashed connector crossing it);
- thin full-span separator lines (rules between rows, dashed dividers, a frame round the figure)
  with background on both sides count as gutter;
- most pieces are not panels: axis titles, tick-label rows, legends, colour bars, panel letters in
  the gutter, headers over an image grid. A piece whose ink is only character-sized or thin strokes
  (measured by the figure's own median character height) joins the nearest panel - panel letters
  the panel whose top-left corner is nearest below/right of them - unless the grown panel would
  run into another panel: then it is shared text (a common legend, a caption line) and dropped.
  Fragments much smaller than the largest panel join their nearest panel the same way;
- huge images are analysed on a max-pooled mask (thin ink survives pooling) and boxes mapped back.

Returns boxes in the image's pixels, tight on their ink, with a confidence that grows with the
gutters around the piece; a figure that does not split gives one box over all of its content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from subfigure_detector.postprocess import Box, ink_mask, trim_box

ANALYSIS_MAX_SIDE = 1600  # larger figures are pooled down to about this size for the cut search


@dataclass(frozen=True)
class XYCutConfig:
    min_gap_frac: float = 0.004  # smallest gutter, as a fraction of the figure's longer side...
    min_gap_px: int = 3  # ...and in pixels (of the analysis mask)
    noise_frac: float = 0.004  # ink pixels a gutter line may hold, as a fraction of its length
    line_cover: float = 0.85  # a separator line spans this much of its region...
    line_fill: float = 0.35  # ...with at least this much ink (dashed lines count)
    line_max_frac: float = 0.006  # ...and is at most this thick (fraction of the longer side, >= 2 px)
    text_char_max: float = 2.2  # a component at most this many character heights tall is text-sized
    text_lines: float = 2.6  # a panel is thicker than this many character heights
    fragment_area: float = 0.06  # a piece with less area than this share of the largest panel is a fragment
    overlap_tolerance: float = 0.002  # growing a panel may cover this share of another panel
    max_depth: int = 12


@dataclass
class XYPanel:
    box: Box
    score: float
    gap: float  # narrowest gutter (pixels) around the piece; 0 for the whole figure
    label_box: Box | None = None  # a lone short word that was merged in at the panel's top-left


def split_figure(rgb: np.ndarray, config: XYCutConfig = XYCutConfig(), *, mask: np.ndarray | None = None) -> list[XYPanel]:
    """Split an RGB figure (H x W x 3 uint8) into panel boxes by its whitespace gutters."""
    full = ink_mask(rgb) if mask is None else mask
    h, w = full.shape
    if h == 0 or w == 0:
        return []
    scale = max(1, int(np.ceil(max(h, w) / ANALYSIS_MAX_SIDE)))
    small = _pool(full, scale) if scale > 1 else full
    cutter = _Cutter(small, config)
    root = trim_box(small, (0, 0, small.shape[1], small.shape[0]))
    if root is None:
        return []
    leaves = cutter.segment(root)
    pieces = cutter.merge_leaves(leaves) if len(leaves) > 1 else [(b, g, []) for b, g in leaves]

    def up(b: Box) -> Box:
        big = (b[0] * scale, b[1] * scale, min(w, b[2] * scale), min(h, b[3] * scale))
        return trim_box(full, big) or big

    out = []
    for box, gap, labels in pieces:
        tight = up(box)
        label = min(labels, key=lambda b: (b[0] - box[0]) ** 2 + (b[1] - box[1]) ** 2) if labels else None
        out.append(XYPanel(tight, _confidence(gap, cutter.min_gap, len(pieces)), gap * scale,
                           up(label) if label else None))
    return out


def char_height(rgb: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """The figure's typical character height in pixels (for sizing label searches)."""
    mask = ink_mask(rgb) if mask is None else mask
    scale = max(1, int(np.ceil(max(mask.shape) / ANALYSIS_MAX_SIDE)))
    small = _pool(mask, scale) if scale > 1 else mask
    return scale * _char_height(_components(small), small.shape)


def _confidence(gap: float, min_gap: float, n: int) -> float:
    if n == 1:
        return 0.9  # "not compound" is right for most figures that have no gutter at all
    return round(0.45 + 0.45 * min(1.0, gap / (4.0 * min_gap)), 3)


def _pool(mask: np.ndarray, k: int) -> np.ndarray:
    h, w = mask.shape
    H, W = -(-h // k) * k, -(-w // k) * k
    padded = np.zeros((H, W), bool)
    padded[:h, :w] = mask
    return padded.reshape(H // k, k, W // k, k).any(axis=(1, 3))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D boolean array."""
    if flags.size == 0:
        return []
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))


def _components(mask: np.ndarray) -> np.ndarray:
    """8-connected ink components as rows of (y1, x1, y2, x2, pixels)."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros((0, 5), np.int64)
    sl = ndimage.find_objects(lab)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    return np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop, c) for s, c in zip(sl, sizes)], np.int64)


def _char_height(comps: np.ndarray, shape: tuple[int, int]) -> float:
    """Typical height of a text character: the median height of small, letter-shaped components."""
    if len(comps):
        hs = comps[:, 2] - comps[:, 0]
        ws = comps[:, 3] - comps[:, 1]
        limit = max(12, 0.06 * max(shape))
        keep = (hs >= 4) & (hs <= limit) & (ws <= 1.5 * limit)
        if keep.sum() >= 3:
            return float(np.median(hs[keep]))
    return float(np.clip(0.015 * max(shape), 6, 40))


class _Cutter:
    def __init__(self, mask: np.ndarray, config: XYCutConfig) -> None:
        self.mask = mask
        self.cfg = config
        side = max(mask.shape)
        self.line_max = max(2, int(round(config.line_max_frac * side)))
        self.comps = _components(mask)
        self.char_h = _char_height(self.comps, mask.shape)
        self.min_gap = max(config.min_gap_px, config.min_gap_frac * side)

    # -- gutters --------------------------------------------------------------------------
    def _clean(self, sub: np.ndarray) -> np.ndarray:
        """Remove thin full-span separator lines that have background on both sides (or the edge)."""
        out = sub
        for axis in (1, 0):  # rows (horizontal lines), then columns
            a = out if axis == 1 else out.T
            n_along = a.shape[1]
            if n_along < 8:
                continue
            prof = a.sum(axis=1)
            cand = prof >= self.cfg.line_fill * n_along
            if not cand.any():
                continue
            gutter = prof <= self._tol(n_along)
            changed = False
            for s, e in _runs(cand):
                if e - s > self.line_max:
                    continue
                before = s == 0 or gutter[max(0, s - 1)]
                after = e == len(prof) or gutter[min(len(prof) - 1, e)]
                if not (before and after):
                    continue
                cols = np.flatnonzero(a[s:e].any(axis=0))
                if cols.size and (cols[-1] - cols[0] + 1) >= self.cfg.line_cover * n_along:
                    if not changed:
                        a = a.copy()
                        changed = True
                    a[s:e] = False
            if changed:
                out = a if axis == 1 else a.T
        return out

    def _tol(self, length: int) -> int:
        return int(self.cfg.noise_frac * length)

    def _gutters(self, sub: np.ndarray, axis: int) -> list[tuple[int, int]]:
        """Interior background bands of `sub` across `axis` (0: horizontal bands, 1: vertical)."""
        a = sub if axis == 0 else sub.T  # rows of `a` are the candidate gutter lines
        empty = a.sum(axis=1) <= self._tol(a.shape[1])
        return [(s, e) for s, e in _runs(empty) if s > 0 and e < len(empty) and e - s >= self.min_gap]

    # -- recursion ------------------------------------------------------------------------
    def segment(self, box: Box, depth: int = 0, gap: float = 0.0) -> list[tuple[Box, float]]:
        """All leaves of the recursive cut of `box`, each with the narrowest gutter around it."""
        x1, y1, x2, y2 = box
        sub = self._clean(self.mask[y1:y2, x1:x2])
        tb = trim_box(sub, (0, 0, x2 - x1, y2 - y1))
        if tb is None:
            return []
        box = (x1 + tb[0], y1 + tb[1], x1 + tb[2], y1 + tb[3])
        sub = sub[tb[1]:tb[3], tb[0]:tb[2]]
        if depth >= self.cfg.max_depth:
            return [(box, gap)]
        options = []
        for axis in (0, 1):
            gs = self._gutters(sub, axis)
            if gs:
                options.append((max(e - s for s, e in gs), axis, gs))
        if not options:
            return [(box, gap)]
        # Widest gutter first; on a tie rows before columns (reading order is row-major).
        _, axis, gs = min(options, key=lambda o: (-o[0], o[1]))
        out: list[tuple[Box, float]] = []
        for piece, before, after in self._pieces(box, sub, axis, gs):
            g = min([v for v in (before, after) if v > 0] + ([gap] if gap > 0 else []))
            out += self.segment(piece, depth + 1, g)
        return out

    def _pieces(self, box: Box, sub: np.ndarray, axis: int, gs: list[tuple[int, int]]) -> list[tuple[Box, int, int]]:
        """Cut `box` at gutters `gs`: [(piece box, gutter before, gutter after)]."""
        x1, y1, x2, y2 = box
        n = sub.shape[0] if axis == 0 else sub.shape[1]
        bounds = [0] + [v for s, e in gs for v in (s, e)] + [n]
        widths = [0] + [e - s for s, e in gs] + [0]
        pieces = []
        for k in range(len(gs) + 1):
            a, b = bounds[2 * k], bounds[2 * k + 1]
            raw = (x1, y1 + a, x2, y1 + b) if axis == 0 else (x1 + a, y1, x1 + b, y2)
            pieces.append((raw, widths[k], widths[k + 1]))
        return pieces


    # -- merging leaves into panels ---------------------------------------------------------
    def _is_minor(self, box: Box) -> bool:
        """True when the ink in `box` is only text and thin strokes: a label, axis title, tick labels,
        a legend, a colour bar, a bracket. Such a piece belongs to a panel but is not one."""
        c = self.comps
        if not len(c):
            return True
        cy = (c[:, 0] + c[:, 2]) / 2
        cx = (c[:, 1] + c[:, 3]) / 2
        inside = (cx >= box[0]) & (cx < box[2]) & (cy >= box[1]) & (cy < box[3])
        if not inside.any():
            return True
        cc = c[inside]
        hs = cc[:, 2] - cc[:, 0]
        ws = cc[:, 3] - cc[:, 1]
        thin = np.minimum(hs, ws) <= self.cfg.text_char_max * self.char_h
        return bool(cc[thin, 4].sum() >= 0.9 * cc[:, 4].sum())

    def merge_leaves(self, leaves: list[tuple[Box, float]]) -> list[tuple[Box, float, list[Box]]]:
        """Attach text-only leaves and small fragments to the nearest panel; drop shared text.

        Text leaves (labels, tick labels, axis titles, legends, headers) join panels nearest first,
        so a panel grows outwards through its own tick labels to its axis title before a farther
        panel can claim them. A join must not make the panel run into another panel or stick out
        sideways past its edge; text that can join no panel (a legend or header shared by several
        panels, a caption line under the figure) is not part of any panel and is dropped. Then
        fragments much smaller than the largest panel join their nearest panel the same way.
        """
        items = [[b, g, self._is_minor(b)] for b, g in leaves]
        if all(t for _, _, t in items):
            return [(_union([b for b, _, _ in items]), 0.0, [])]
        panels = [[b, g, []] for b, g, t in items if not t]  # box, gutter, label-like pieces merged in
        self._attach_text([b for b, _, t in items if t], panels)
        while len(panels) > 1:
            amax = max(_area(p[0]) for p in panels)
            small = [k for k, p in enumerate(panels)
                     if _area(p[0]) < self.cfg.fragment_area * amax
                     or min(p[0][2] - p[0][0], p[0][3] - p[0][1]) < self.cfg.text_lines * self.char_h]
            merged = False
            for k in sorted(small, key=lambda k: _area(panels[k][0])):
                frag = panels.pop(k)
                k2 = self._attach(panels, frag[0])
                if k2 is not None:
                    panels[k2][2].extend(frag[2])
                    merged = True
                    break
                panels.insert(k, frag)
            if not merged:
                break
        return [(b, g, labels) for b, g, labels in panels]

    def _attach_text(self, texts: list[Box], panels: list[list]) -> None:
        """Agglomerate text pieces into panels, the closest (piece, panel) pair first.

        A panel letter sits at the top-left of its own panel, often nearer to the panel above or to
        the left, so for a label-like piece a panel whose top-left corner lies just below/right of it
        counts as half as far.
        """
        pending = list(texts)
        while pending:
            best = None
            for t in pending:
                label_like = self._is_label_like(t)
                for k, p in enumerate(panels):
                    gap = _gap(p[0], t)
                    corner = label_like and self._labels_panel(t, p[0])
                    if corner:
                        gap *= 0.5
                    elif not self._fits_beside(p[0], t):
                        continue
                    if best is None or gap < best[0]:
                        best = (gap, t, k, corner)
            if best is None:
                return  # what is left is shared text: dropped
            _, t, k, corner = best
            pending.remove(t)
            grown = _union([panels[k][0], t])
            if any(j != k and _overlap(grown, panels[j][0]) > self.cfg.overlap_tolerance * _area(panels[j][0])
                   for j in range(len(panels))):
                continue  # it would run into another panel: shared, dropped
            panels[k][0] = grown
            if corner:
                panels[k][2].append(t)

    def _labels_panel(self, piece: Box, panel: Box) -> bool:
        """`piece` could be this panel's letter: just above/left of its top-left corner."""
        tol = 2 * self.char_h
        return (panel[0] >= piece[0] - tol and panel[1] >= piece[1] - tol
                and panel[0] - piece[2] <= 6 * self.char_h and panel[1] - piece[3] <= 6 * self.char_h)

    def _fits_beside(self, panel: Box, piece: Box) -> bool:
        """A piece above/below a panel lies within its columns, one beside it within its rows.

        Text that sticks out sideways past a panel's edge (half of a legend shared by two panels, a
        caption line under a row of panels) would widen the panel across the gutter: it is not
        that panel's text.
        """
        tol = 1.5 * self.char_h
        ox = min(panel[2], piece[2]) - max(panel[0], piece[0])
        oy = min(panel[3], piece[3]) - max(panel[1], piece[1])
        if ox > 0 and oy > 0:
            return True  # overlapping: inside the panel's box already
        if ox > 0:  # above or below
            return piece[0] >= panel[0] - tol and piece[2] <= panel[2] + tol
        if oy > 0:  # left or right
            return piece[1] >= panel[1] - tol and piece[3] <= panel[3] + tol
        return _gap(panel, piece) <= self.char_h  # diagonal: only when touching the corner

    def _is_label_like(self, box: Box) -> bool:
        """A lone short word: panel letters ("A", "(b)", "c1") look like this."""
        return (box[3] - box[1]) <= 2.5 * self.char_h and (box[2] - box[0]) <= 4 * self.char_h

    def _attach(self, panels: list[list], box: Box) -> int | None:
        """Grow one of the two panels nearest to fragment `box` by it; the panel's index, or None.

        The fragment must fit beside the panel (`_fits_beside`) and the grown panel must not run
        into another panel.
        """
        order = sorted(range(len(panels)), key=lambda k: _gap(panels[k][0], box))
        for k in order[:2]:
            if not self._fits_beside(panels[k][0], box):
                continue
            grown = _union([panels[k][0], box])
            if all(j == k or _overlap(grown, panels[j][0]) <= self.cfg.overlap_tolerance * _area(panels[j][0])
                   for j in range(len(panels))):
                panels[k][0] = grown
                return k
        return None


def _area(b: Box) -> int:
    return (b[2] - b[0]) * (b[3] - b[1])


def _overlap(a: Box, b: Box) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


def _gap(a: Box, b: Box) -> float:
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
