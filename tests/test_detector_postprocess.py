"""Post-processing of panel boxes: suppression, containment, labels, reading order, trimming."""

from __future__ import annotations

import numpy as np
import pytest

from subfigure_detector.postprocess import (
    LabelBox,
    Panel,
    assign_labels,
    background_level,
    infer_sequence_labels,
    ink_coverage,
    ink_mask,
    iou,
    merge_unlabelled,
    reading_order,
    resolve_containment,
    suppress_overlaps,
    trim_box,
    trim_panels,
)


def P(box, score=0.9, label=None, method="yolo") -> Panel:
    return Panel(tuple(box), score, method, label=label)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_suppress_overlaps_keeps_the_best_scoring_box():
    kept = suppress_overlaps([P((0, 0, 100, 100), 0.6), P((2, 2, 100, 100), 0.9), P((200, 0, 300, 100), 0.5)])
    assert sorted(p.score for p in kept) == [0.5, 0.9]


def test_containment_drops_groups_and_fragments():
    group = P((0, 0, 200, 100))
    a, b = P((0, 0, 95, 100)), P((105, 0, 200, 100))
    assert set(p.box for p in resolve_containment([group, a, b])) == {a.box, b.box}, \
        "a box holding two panels is a group: the members stay"
    inset = P((10, 10, 40, 40))
    assert [p.box for p in resolve_containment([a, inset])] == [a.box], "an inset is part of its panel"


def test_labels_go_to_the_panel_holding_or_nearest_them_and_panels_grow():
    left, right = P((20, 20, 100, 100)), P((120, 20, 200, 100))
    inside = LabelBox((125, 25, 135, 35), raw="b")
    outside = LabelBox((8, 8, 18, 18), raw="a")  # in the gutter above-left of `left`
    out = assign_labels([left, right], [inside, outside])
    assert out[0].label_box == outside.box and out[0].label_raw == "a"
    assert out[0].box == (8, 8, 100, 100), "the panel grows to include its own corner label"
    assert out[1].label_box == inside.box and out[1].box == right.box
    far = LabelBox((500, 500, 510, 510))
    assert assign_labels([left], [far])[0].label_box is None, "a label far from every panel is not assigned"


def test_a_panel_keeps_the_label_nearest_its_top_left():
    p = P((0, 0, 100, 100))
    out = assign_labels([p], [LabelBox((80, 80, 90, 90), raw="x"), LabelBox((2, 2, 12, 12), raw="a")])
    assert out[0].label_raw == "a"


def test_reading_order_grid_with_misaligned_panels():
    # 2 x 2 grid whose second column sits a few pixels lower and whose rows overlap slightly.
    boxes = [(210, 8, 400, 200), (0, 0, 200, 195), (205, 212, 400, 400), (0, 190, 200, 390)]
    assert reading_order(boxes) == [1, 0, 3, 2]


def test_reading_order_tall_panel_then_stacked_column():
    # A tall on the left; B over C on the right: A, B, C even though C's top is above... nothing.
    boxes = [(210, 210, 400, 400), (0, 0, 200, 400), (212, 0, 400, 200)]
    assert reading_order(boxes) == [1, 2, 0]


def test_reading_order_rows_of_different_heights():
    boxes = [(0, 300, 100, 400), (0, 0, 300, 120), (320, 0, 400, 280), (110, 300, 400, 400), (0, 130, 300, 280)]
    assert reading_order(boxes) == [1, 4, 2, 0, 3]


def test_ink_mask_background_and_trim():
    rgb = np.full((50, 80, 3), 255, np.uint8)
    rgb[10:20, 30:60] = (250, 20, 20)  # red: min(RGB) is dark
    rgb[30:32, 5:7] = 245  # faint JPEG-like noise stays background
    assert background_level(rgb) == 255
    mask = ink_mask(rgb)
    assert trim_box(mask, (0, 0, 80, 50)) == (30, 10, 60, 20)
    assert trim_box(mask, (0, 25, 80, 50)) is None
    dark = 255 - rgb
    assert background_level(dark) == 0 and trim_box(ink_mask(dark), (0, 0, 80, 50)) == (30, 10, 60, 20)


def test_trim_panels_keeps_the_label_and_drops_empty_panels():
    rgb = np.full((60, 60, 3), 255, np.uint8)
    rgb[20:40, 20:40] = 0
    mask = ink_mask(rgb)
    p = Panel((0, 0, 60, 60), 0.9, "yolo", label_box=(2, 2, 8, 8))
    out = trim_panels([p, Panel((45, 45, 60, 60), 0.5, "yolo")], mask)
    assert [q.box for q in out] == [(2, 2, 40, 40)]


def test_merge_unlabelled_joins_the_second_column_of_an_image_grid():
    a = P((0, 0, 100, 100), label="A")
    a_right = P((104, 0, 200, 100))  # 4 px inner gap: the second image of panel A
    b = P((220, 0, 320, 100), label="B")
    out = merge_unlabelled([a, a_right, b])
    assert [p.box for p in out] == [(0, 0, 200, 100), b.box]
    b_near = P((120, 0, 220, 100), label="B")  # 20 px gutter between labelled panels
    lone = P((240, 0, 340, 100))  # 20 px from B: as far as a real gutter, so it stays (a missed label?)
    assert len(merge_unlabelled([a, b_near, lone])) == 3


def test_infer_sequence_labels_fills_gaps_and_stroke_letters():
    row = [P((i * 100, 0, i * 100 + 90, 90), label=lab) for i, lab in enumerate(["A", None, "C", "D"])]
    assert [p.label for p in infer_sequence_labels(row)] == ["A", "B", "C", "D"]
    strokes = [P((i * 100, 0, i * 100 + 90, 90), label=lab) for i, lab in enumerate(["J", "K", "I", "M"])]
    assert [p.label for p in infer_sequence_labels(strokes)] == ["J", "K", "L", "M"], "'l' read as I"
    few = [P((0, 0, 90, 90), label="A"), P((100, 0, 190, 90))]
    assert infer_sequence_labels(few)[1].label is None, "too little evidence of lettering"
    second = [P((0, 0, 90, 90)), P((100, 0, 190, 90), label="B")]
    assert [p.label for p in infer_sequence_labels(second)] == ["A", "B"], "a B in second place follows an A"


def test_infer_sequence_labels_repairs_a_run_and_leaves_other_orders():
    def row(labels):
        return [P((i * 100, 0, i * 100 + 90, 90), label=lab) for i, lab in enumerate(labels)]

    fixed = infer_sequence_labels(row(["A", "B", "C", "D", None, None, "G", "I", None]))
    assert [p.label for p in fixed] == list("ABCDEFGHI"), "misread I and missing letters follow the run"
    assert fixed[7].extra["label_source"] == "sequence" and fixed[7].label_score == 0.0
    assert fixed[0].extra.get("label_source") is None, "read letters stay as read"
    gap = infer_sequence_labels(row([None, None, None, "D", "E", None, "G"]))
    assert [p.label for p in gap] == [None, None, None, "D", "E", "F", "G"], \
        "a gap between agreeing letters is filled; a long run before them is not guessed"
    column_major = ["A", "C", "E", "B", "D", "F"]
    assert [p.label for p in infer_sequence_labels(row(column_major))] == column_major
    sub = ["A1", "A2", "B", None, "C"]
    assert [p.label for p in infer_sequence_labels(row(sub))] == sub, \
        "sub-panel labels break the one-letter-per-panel count: no run, and B, ?, C is no gap"
    assert [p.label for p in infer_sequence_labels(row(["A1", "A2", "B", None, "D"]))][3] == "C"


def test_panel_to_dict():
    d = Panel((1, 2, 3, 4), 0.123456, "xycut", label="A", label_raw="(a)", label_box=(1, 2, 2, 3)).to_dict()
    assert d == {"box": [1, 2, 3, 4], "score": 0.1235, "method": "xycut", "label": "A", "label_raw": "(a)",
                 "label_box": [1, 2, 2, 3], "label_score": None}


def test_ink_coverage_counts_ink_inside_any_panel():
    mask = np.zeros((100, 200), bool)
    mask[10:90, 10:190] = True  # one wide panel's ink
    full = [P((10, 10, 190, 90))]
    short = [P((10, 10, 100, 90))]  # a box that stops half way
    assert ink_coverage(mask, full) == 1.0
    assert ink_coverage(mask, short) == pytest.approx(0.5, abs=0.01)
    assert ink_coverage(mask, []) == 0.0 and ink_coverage(np.zeros((5, 5), bool), full) == 0.0


def test_group_by_labels_joins_a_grid_sharing_one_letter_even_across_full_gutters():
    from subfigure_detector.postprocess import group_by_labels

    # A: a 2 x 2 image grid (only its first tile lettered), B: one chart; every gutter 20 px.
    a = P((0, 0, 100, 100), label="A")
    tiles = [P((120, 0, 220, 100)), P((0, 120, 100, 220)), P((120, 120, 220, 220))]
    b = P((240, 0, 340, 220), label="B")
    out = group_by_labels([a, *tiles, b])
    assert sorted(p.box for p in out) == [(0, 0, 220, 220), b.box]
    assert merge_unlabelled([a, *tiles, b]) != out, "the gutter rule alone keeps full-gutter tiles"


def test_group_by_labels_keeps_pieces_that_may_carry_an_unread_letter():
    from subfigure_detector.postprocess import group_by_labels

    row = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100)), P((240, 0, 340, 100), label="C")]
    assert group_by_labels(row) == row, "a gap in the letters: the piece may be B"
    last = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"), P((280, 0, 380, 100))]
    assert group_by_labels(last) == last, "a panel-sized piece after the last letter, set off by a wide gutter"
    beside = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"), P((240, 0, 340, 100))]
    assert group_by_labels(beside) == beside, "as far from B as B from A: may be C"
    inner = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"), P((226, 0, 326, 100))]
    assert [p.box for p in group_by_labels(inner)] == [(0, 0, 100, 100), (120, 0, 326, 100)], "B's row of tiles goes on"
    small = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"), P((240, 0, 270, 100))]
    assert len(group_by_labels(small)) == 2, "a sliver after the last letter is part of it"
    # A small piece below B: joined to B it would run into the lettered C, so it continues C's row.
    blocked = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"),
               P((0, 120, 220, 220), label="C"), P((240, 120, 270, 220))]
    assert [(p.label, p.box) for p in group_by_labels(blocked)] == [
        ("A", (0, 0, 100, 100)), ("B", (120, 0, 220, 100)), ("C", (0, 120, 270, 220))]


def test_group_by_labels_owner_is_the_letter_that_heads_the_piece():
    from subfigure_detector.postprocess import group_by_labels

    # Row 1: A [tile]; row 2: B [tile] - each tile joins the letter beside it, not the one above.
    a, a2 = P((0, 0, 100, 100), label="A"), P((106, 0, 206, 100))
    b, b2 = P((0, 120, 100, 220), label="B"), P((106, 120, 206, 220))
    out = group_by_labels([a, a2, b, b2])
    assert sorted((p.label, p.box) for p in out) == [("A", (0, 0, 206, 100)), ("B", (0, 120, 206, 220))]
    # A piece under B's tile but beside nothing lettered, whose join would cut through another piece, stays.
    c_only = [P((0, 0, 100, 100), label="A"), P((120, 0, 220, 100), label="B"), P((60, 120, 160, 220))]
    assert len(group_by_labels(c_only)) == 3
