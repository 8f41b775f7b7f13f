"""Post-processing of panel boxes: overlap suppression, containment, label assignment, reading order, trimming.

Pure functions on plain data. Boxes are integer pixels `(x1, y1, x2, y2)` in the original image,
x2/y2 exclusive (the gold format's convention), so `area = (x2 - x1) * (y2 - y1)`.

Reading order is a recursive XY-cut over the boxes themselves (rows first, then columns): it reads a
tall panel on the left before the two stacked panels beside it, and it tolerates panels that are
slightly misaligned because each box is shrunk a little before the gaps between them are looked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

Box = tuple[int, int, int, int]

METHODS = ("yolo", "xycut", "whole")


@dataclass
class Panel:
    """One panel of a figure; `method` says which detector found it (yolo | xycut | whole)."""

    box: Box
    score: float
    method: str
    label: str | None = None  # canonical letter(s) for alignment with captions: "A", "B1", "II"
    label_raw: str | None = None  # as read: "(a)", "b1", "ii"
    label_box: Box | None = None
    label_score: float | None = None
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("extra")
        out["box"] = list(self.box)
        out["label_box"] = list(self.label_box) if self.label_box else None
        out["score"] = round(float(self.score), 4)
        if self.label_score is not None:
            out["label_score"] = round(float(self.label_score), 4)
        return out


# -- box arithmetic --------------------------------------------------------------------------
def area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(w * h) if w > 0 and h > 0 else 0.0


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def union_box(boxes: Iterable[Sequence[int]]) -> Box:
    bs = list(boxes)
    return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))


def clip_box(b: Sequence[float], width: int, height: int) -> Box:
    x1 = int(round(min(max(b[0], 0), width)))
    y1 = int(round(min(max(b[1], 0), height)))
    x2 = int(round(min(max(b[2], 0), width)))
    y2 = int(round(min(max(b[3], 0), height)))
    return (x1, y1, max(x1, x2), max(y1, y2))


def box_gap(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two boxes (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


# -- suppression -----------------------------------------------------------------------------
def suppress_overlaps(panels: list[Panel], iou_threshold: float = 0.5) -> list[Panel]:
    """Greedy non-maximum suppression across methods: keep the best-scoring of boxes that overlap."""
    kept: list[Panel] = []
    for p in sorted(panels, key=lambda p: -p.score):
        if all(iou(p.box, k.box) < iou_threshold for k in kept):
            kept.append(p)
    return kept


def resolve_containment(panels: list[Panel], inside: float = 0.85) -> list[Panel]:
    """Drop boxes that are parts or groups of others.

    A box that holds two or more other boxes is a group (the detector saw both the group and its
    members; the PanelSeg convention is the smallest labelled region), so the group goes. A box
    that sits inside exactly one other is an inset or a fragment of it, so the inner one goes.
    """
    n = len(panels)
    contains = [[j for j in range(n) if j != i and area(panels[j].box) > 0
                 and intersection(panels[i].box, panels[j].box) >= inside * area(panels[j].box)
                 and area(panels[j].box) < area(panels[i].box)]
                for i in range(n)]
    drop: set[int] = set()
    for i in range(n):
        if len(contains[i]) >= 2:
            drop.add(i)
    for i in range(n):
        if i in drop:
            continue
        if len(contains[i]) == 1 and contains[i][0] not in drop:
            drop.add(contains[i][0])
    return [p for i, p in enumerate(panels) if i not in drop]


# -- labels ----------------------------------------------------------------------------------
@dataclass
class LabelBox:
    box: Box
    score: float = 1.0
    raw: str | None = None  # read text, when already read
    text_score: float | None = None


def assign_labels(panels: list[Panel], labels: list[LabelBox], *, max_gap_frac: float = 0.15) -> list[Panel]:
    """Give each panel at most one label box: the one inside it, or the nearest outside it.

    A label inside a panel (most of its area) belongs to it; otherwise to the nearest panel within
    `max_gap_frac` of that panel's shorter side (labels often sit in the gutter just above or left of
    their panel). Among several candidates a panel keeps the one nearest its top-left corner. The
    panel box grows to include its label (gold convention: a panel is tight on its own corner label).
    """
    if not panels or not labels:
        return panels
    claims: dict[int, list[tuple[float, LabelBox]]] = {}
    for lab in labels:
        la = area(lab.box) or 1.0
        best, best_key = None, None
        for i, p in enumerate(panels):
            inside = intersection(p.box, lab.box) / la
            gap = box_gap(p.box, lab.box)
            limit = max_gap_frac * min(p.box[2] - p.box[0], p.box[3] - p.box[1])
            if inside < 0.5 and gap > limit:
                continue
            key = (0 if inside >= 0.5 else 1, gap, _corner_distance(p.box, lab.box))
            if best_key is None or key < best_key:
                best, best_key = i, key
        if best is not None:
            claims.setdefault(best, []).append((_corner_distance(panels[best].box, lab.box), lab))
    out = list(panels)
    for i, cands in claims.items():
        _, lab = min(cands, key=lambda c: (c[0], -c[1].score))
        p = out[i]
        out[i] = replace(p, box=union_box([p.box, lab.box]), label_box=lab.box,
                         label_raw=lab.raw if lab.raw is not None else p.label_raw,
                         label_score=lab.text_score if lab.text_score is not None else p.label_score)
    return out


def merge_unlabelled(panels: list[Panel], *, min_labelled: int = 2, max_gap_frac: float = 0.25, gap_ratio: float = 0.75,
                     overlap_tolerance: float = 0.002) -> list[Panel]:
    """In a labelled figure, join each unlabelled panel to the labelled neighbour it continues.

    When a figure labels its panels, a region without a label is a part of a labelled panel (the
    second column of an image grid, the plot beside a schematic) - the PanelSeg convention that a
    panel is the smallest region carrying its own label. The neighbour must share a row or column
    band with it, be closer than `gap_ratio` times the narrowest gutter between labelled panels
    and within `max_gap_frac` of its shorter side, preferably lie left of or above it, and the
    joined box must not run into a third panel. Panels that cannot join stay.
    """
    labelled = [p for p in panels if p.label]
    if len(labelled) < min_labelled:
        return panels
    # Gutters between labelled panels that sit side by side: a piece separated from a labelled
    # panel by a clearly narrower gap belongs to it (an image grid's inner gap); one separated by a
    # full-width gutter may be a panel whose label was missed, and stays.
    between = [box_gap(a.box, b.box) for i, a in enumerate(labelled) for b in labelled[i + 1:]
               if _share_band(a.box, b.box)]
    if not between:
        return panels
    limit = gap_ratio * min(between)
    out = list(panels)
    changed = True
    while changed:
        changed = False
        for u in sorted((p for p in out if not p.label), key=lambda p: area(p.box)):
            best, best_key = None, None
            short = min(u.box[2] - u.box[0], u.box[3] - u.box[1])
            for cand in out:
                if cand is u or not cand.label:
                    continue
                gap = box_gap(u.box, cand.box)
                if gap > max_gap_frac * short or gap >= limit or not _share_band(u.box, cand.box):
                    continue
                grown = union_box([u.box, cand.box])
                if any(o is not u and o is not cand and intersection(grown, o.box) > overlap_tolerance * area(o.box)
                       for o in out):
                    continue
                before = cand.box[0] <= u.box[0] and cand.box[1] <= u.box[1]
                key = (0 if before else 1, gap)
                if best_key is None or key < best_key:
                    best, best_key = cand, key
            if best is not None:
                merged = replace(best, box=union_box([u.box, best.box]), score=min(best.score, u.score))
                out = [merged if p is best else p for p in out if p is not u]
                changed = True
                break
    return out


def letter_run_complete(panels: Sequence[Panel]) -> bool:
    """True when the panels' first letters form an unbroken run (A, B, C; Ai, Aii, B count as A, B).

    Then no letter inside the run is missing, so a piece without a label cannot be a panel whose
    letter went unread - except one before the first letter or after the last.
    """
    letters = sorted({ord(p.label[0].upper()) for p in panels if p.label and p.label[0].isalpha()})
    return len(letters) >= 2 and letters[-1] - letters[0] + 1 == len(letters)


def group_by_labels(panels: list[Panel], *, min_labelled: int = 2, overlap_tolerance: float = 0.02,
                    keep_area: float = 0.5, keep_gap: float = 0.9) -> list[Panel]:
    """The labels decide what a panel is: every unlabelled piece joins the labelled panel that owns it.

    PanelSeg/ImageCLEF convention: a panel is the smallest region carrying its own label, so the
    tiles of an image grid, a row of plots or a block of heat maps under one letter are one panel.
    Applies only when the figure's letters form an unbroken run (`letter_run_complete`); with a gap
    in the run a piece may be the panel of the missing letter, and `merge_unlabelled` decides.
    The owner is a labelled panel whose top-left precedes the piece (labels head their panels),
    preferably beside it in its row, then above it in its column, then the nearest; the joined box
    must not run into another labelled panel. A piece after the last letter (or before the first
    one, when that is not A) that is panel-sized (`keep_area` of the median labelled panel) and set
    off by a full gutter (`keep_gap` times the narrowest gutter between lettered panels in that
    direction) stays: its letter may have gone unread.
    """
    labelled = [p for p in panels if p.label]
    if len(labelled) < min_labelled or len(labelled) == len(panels) or not letter_run_complete(panels):
        return panels
    # The narrowest gutter between lettered panels side by side (axis 1: in a row) and stacked (axis 0).
    gutters = {axis: [box_gap(a.box, b.box) for i, a in enumerate(labelled) for b in labelled[i + 1:]
                      if _same_band(a.box, b.box, axis)] for axis in (0, 1)}
    any_gutter = min(gutters[0] + gutters[1], default=float("inf"))
    typical = float(np.median([area(p.box) for p in labelled]))
    first = min(ord(p.label[0].upper()) for p in labelled if p.label[0].isalpha())
    out = list(panels)
    changed = True
    while changed:
        changed = False
        order = {id(out[i]): k for k, i in enumerate(reading_order([p.box for p in out]))}
        ranks = [order[id(p)] for p in out if p.label]
        for u in sorted((p for p in out if not p.label), key=lambda p: area(p.box)):
            owner = _owner(u, out, overlap_tolerance)
            if owner is None:
                continue
            outside = order[id(u)] > max(ranks) or (order[id(u)] < min(ranks) and first != ord("A"))
            axis = 1 if _same_band(u.box, owner.box, 1) else 0
            gutter = min(gutters[axis], default=any_gutter)
            if outside and area(u.box) >= keep_area * typical and box_gap(u.box, owner.box) >= keep_gap * gutter:
                continue
            grown = union_box([u.box, owner.box])
            merged = replace(owner, box=grown, score=min(owner.score, u.score))
            # Unlabelled pieces the grown panel now covers are its own as well.
            out = [merged if p is owner else p for p in out
                   if p is not u and not (not p.label and intersection(p.box, grown) >= 0.8 * area(p.box))]
            changed = True
            break
    return out


def _owner(u: Panel, panels: Sequence[Panel], overlap_tolerance: float) -> Panel | None:
    """The labelled panel an unlabelled piece belongs to (see `group_by_labels`), or None.

    Candidates head the piece (their top-left precedes its centre) and sit beside it in its row or
    above it in its column; joined, they must not run into another lettered panel nor cut through
    another piece.
    """
    cx, cy = (u.box[0] + u.box[2]) / 2, (u.box[1] + u.box[3]) / 2
    best, best_key = None, None
    for cand in panels:
        if not cand.label or cand.box[0] > cx or cand.box[1] > cy:
            continue
        beside = cand.box[2] <= u.box[0] + 0.1 * (u.box[2] - u.box[0]) and _same_band(u.box, cand.box, 1)
        above = cand.box[3] <= u.box[1] + 0.1 * (u.box[3] - u.box[1]) and _same_band(u.box, cand.box, 0)
        if not (beside or above):
            continue
        grown = union_box([u.box, cand.box])
        if any(o is not cand and o is not u and overlap_tolerance * area(o.box) < intersection(grown, o.box)
               and (o.label or intersection(grown, o.box) < 0.8 * area(o.box)) for o in panels):
            continue
        key = (0 if beside else 1, box_gap(u.box, cand.box))
        if best_key is None or key < best_key:
            best, best_key = cand, key
    return best


def _same_band(a: Sequence[float], b: Sequence[float], axis: int, frac: float = 0.5) -> bool:
    """True when a and b overlap by `frac` of the smaller extent along `axis` (0: x, a column; 1: y, a row)."""
    lo, hi = axis, axis + 2
    return min(a[hi], b[hi]) - max(a[lo], b[lo]) >= frac * min(a[hi] - a[lo], b[hi] - b[lo])


def _share_band(a: Sequence[float], b: Sequence[float], frac: float = 0.5) -> bool:
    """True when a and b overlap by `frac` of the smaller extent horizontally or vertically."""
    ox = min(a[2], b[2]) - max(a[0], b[0])
    oy = min(a[3], b[3]) - max(a[1], b[1])
    return (ox >= frac * min(a[2] - a[0], b[2] - b[0])) or (oy >= frac * min(a[3] - a[1], b[3] - b[1]))


def label_consistency(panels: list[Panel]) -> float:
    """How much a split looks like a lettered figure: its run of letters, minus unlabelled and repeated labels.

    A split that cuts a lettered figure right gives every panel its own letter, in a run A, B, C...
    along the reading order; merging two panels loses a letter, cutting one in two leaves a piece
    without one. Panels must be in reading order. Each letter in the figure's longest run (letter =
    first letter + position) counts 1, every other distinct label 0.25 (sub-panel numerals, words
    read as letters, figures lettered down columns), each unlabelled panel -0.5, each repeat -1.
    Unlettered splits score 0. Only letters that were read count.
    """
    labels = [p.label for p in panels if p.label and p.extra.get("label_source") != "sequence"]
    if not labels:
        return 0.0
    distinct = len(set(labels))
    offsets: dict[int, int] = {}
    for i, p in enumerate(panels):
        if p.label and len(p.label) == 1 and p.label.isalpha() and p.extra.get("label_source") != "sequence":
            offsets[ord(p.label) - ord("A") - i] = offsets.get(ord(p.label) - ord("A") - i, 0) + 1
    run = max(offsets.values(), default=0)
    return run + 0.25 * (distinct - run) - 0.5 * (len(panels) - len(labels)) - (len(labels) - distinct)


def infer_sequence_labels(panels: list[Panel], *, min_labelled: int = 3, min_agree: float = 0.75,
                          min_cover: float = 0.5) -> list[Panel]:
    """Repair a figure's single-letter labels from reading order: A, ?, C → A, B, C; A, B, Q, D → A, B, C, D.

    Panels must already be in reading order. Letters run A, B, C... in reading order on most lettered
    figures, so a letter's position predicts it:
    - whole run: when at least `min_labelled` single letters, at least `min_agree` of them and at
      least `min_cover` of the panels' letters sit where one run puts them (letter = first letter +
      position), every panel takes its letter from
      the run: misreads are corrected and missing letters filled, at the ends too. Figures with two
      or more compound labels (A1, Ai, B′: sub-panels) are left to the next rule.
    - gaps: between two read letters as far apart in the alphabet as in reading order, the panels in
      between get the letters in between (A, ?, ?, D); the first panel before a B in second place
      (and a C after it, if any letter follows) gets A. Longer fills at the start went wrong where
      the reading order is ambiguous (a tall panel beside two stacked ones).
    Column-major figures (A C E / B D F read row by row) agree with no run and are left alone.
    Inferred labels are marked: `label_source` "sequence", `label_score` 0, `label_raw` None when
    nothing was read there.
    """
    n = len(panels)
    letters = [p.label if p.label and len(p.label) == 1 and p.label.isalpha() else None for p in panels]
    singles = [(i, ord(x) - ord("A")) for i, x in enumerate(letters) if x]
    if not singles:
        return panels
    want: list[str | None] = [None] * n
    offsets: dict[int, int] = {}
    for i, k in singles:
        offsets[k - i] = offsets.get(k - i, 0) + 1
    best, agree = max(offsets.items(), key=lambda kv: (kv[1], -abs(kv[0])))
    compound = sum(1 for p in panels if p.label and not (len(p.label) == 1 and p.label.isalpha()))
    if (agree >= max(min_labelled, min_cover * n) and agree >= min_agree * len(singles) and compound < 2
            and best >= 0 and best + n <= 26):
        want = [chr(ord("A") + best + i) for i in range(n)]
    else:
        for (i, a), (j, b) in zip(singles, singles[1:]):
            if j - i > 1 and b - a == j - i:
                for k in range(i + 1, j):
                    want[k] = chr(ord("A") + a + (k - i))
        i0, a0 = singles[0]
        if i0 == a0 == 1 and all(b - a0 == j - i0 for j, b in singles[1:2]):
            want[0] = "A"
    out = list(panels)
    for i, w in enumerate(want):
        p = out[i]
        if w is None or p.label == w:
            continue
        out[i] = replace(p, label=w, label_raw=p.label_raw if p.label else None,
                         label_score=0.0, extra={**p.extra, "label_source": "sequence"})
    return out


def _corner_distance(panel: Sequence[float], label: Sequence[float]) -> float:
    return float(np.hypot(label[0] - panel[0], label[1] - panel[1]))


# -- reading order ---------------------------------------------------------------------------
def reading_order(boxes: Sequence[Sequence[float]], *, shrink: float = 0.15) -> list[int]:
    """Indices of `boxes` in reading order: rows top to bottom, left to right within a row.

    Recursive: split the set where no (shrunk) box crosses a horizontal line, else a vertical one;
    a set that cannot be split either way is read by its centres, row bands first.
    """
    idx = list(range(len(boxes)))
    if not idx:
        return []
    arr = np.asarray(boxes, dtype=float).reshape(-1, 4)
    w = arr[:, 2] - arr[:, 0]
    h = arr[:, 3] - arr[:, 1]
    core = arr + np.stack([w * shrink, h * shrink, -w * shrink, -h * shrink], axis=1)
    return _order(idx, core)


def _order(idx: list[int], core: np.ndarray) -> list[int]:
    if len(idx) <= 1:
        return idx
    for lo, hi in ((1, 3), (0, 2)):  # rows (y) first, then columns (x)
        groups = _split_on_gaps(idx, core, lo, hi)
        if len(groups) > 1:
            return [i for g in groups for i in _order(g, core)]
    # Not separable (pinwheel layouts): band by centre rows, then x.
    cy = (core[idx, 1] + core[idx, 3]) / 2
    hmed = float(np.median(core[idx, 3] - core[idx, 1])) or 1.0
    order = sorted(idx, key=lambda i: (round(((core[i, 1] + core[i, 3]) / 2 - cy.min()) / hmed), core[i, 0]))
    return order


def _split_on_gaps(idx: list[int], core: np.ndarray, lo: int, hi: int) -> list[list[int]]:
    spans = sorted(idx, key=lambda i: core[i, lo])
    groups: list[list[int]] = [[spans[0]]]
    reach = core[spans[0], hi]
    for i in spans[1:]:
        if core[i, lo] >= reach:
            groups.append([i])
        else:
            groups[-1].append(i)
        reach = max(reach, core[i, hi])
    return groups


def sort_panels(panels: list[Panel]) -> list[Panel]:
    return [panels[i] for i in reading_order([p.box for p in panels])]


# -- trimming --------------------------------------------------------------------------------
def channel_min(rgb: np.ndarray) -> np.ndarray:
    """min(R, G, B) per pixel (three elementwise minima: much faster than ndarray.min(axis=2))."""
    if rgb.ndim == 2:
        return rgb
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def channel_max(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def ink_mask(rgb: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Pixels that are not background: min(RGB) darker than the (near-white) background.

    The threshold adapts to the background level (JPEG noise, off-white scans): 20 grey levels
    below the background's typical value, at most 235. On a dark background the test inverts.
    """
    m = channel_min(rgb)
    bg = background_level(m)
    if bg >= 128:
        t = threshold if threshold is not None else min(235, bg - 20)
        return m < t
    return channel_max(rgb) > (threshold if threshold is not None else max(40, bg + 40))


def background_level(rgb: np.ndarray) -> int:
    """Typical value of min(RGB) of the figure's background, judged on the image border.

    Panels often touch the image edge, so a dark border alone does not make a dark figure: the
    background counts as light whenever a fair share of the border is light. Takes an RGB image
    or its channel minimum.
    """
    m = channel_min(rgb)
    if m.size == 0:
        return 255
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    light = border[border >= 160]
    if light.size >= 0.1 * border.size:
        return int(np.median(light))
    return int(np.median(border))


def trim_box(mask: np.ndarray, box: Sequence[int], *, noise: int = 0) -> Box | None:
    """Shrink `box` to the ink in `mask` (rows/columns with more than `noise` ink pixels); None if empty."""
    x1, y1, x2, y2 = (int(v) for v in box)
    sub = mask[y1:y2, x1:x2]
    if sub.size == 0:
        return None
    rows = np.flatnonzero(sub.sum(axis=1) > noise)
    cols = np.flatnonzero(sub.sum(axis=0) > noise)
    if rows.size == 0 or cols.size == 0:
        return None
    return (x1 + int(cols[0]), y1 + int(rows[0]), x1 + int(cols[-1]) + 1, y1 + int(rows[-1]) + 1)


def ink_coverage(mask: np.ndarray, panels: list[Panel]) -> float:
    """Share of the figure's ink pixels that lie inside at least one panel box."""
    total = int(mask.sum())
    if total == 0 or not panels:
        return 0.0
    inside = np.zeros_like(mask, dtype=bool)
    for p in panels:
        x1, y1, x2, y2 = (int(v) for v in p.box)
        inside[y1:y2, x1:x2] = True
    return float(np.count_nonzero(mask & inside)) / total


def trim_panels(panels: list[Panel], mask: np.ndarray) -> list[Panel]:
    """Tighten every panel to its content; a panel with no content at all is dropped."""
    out = []
    for p in panels:
        t = trim_box(mask, p.box)
        if t is None:
            continue
        if p.label_box is not None:
            t = union_box([t, p.label_box])
        out.append(replace(p, box=t))
    return out
