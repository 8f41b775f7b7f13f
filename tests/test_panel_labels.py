"""One label key for the detector, the captions and the citances (issue 13: A′ never met A')."""

from __future__ import annotations

import pytest

from figmine.panel_labels import panel_key, same_panel
from pipeline.detect_stage import align
from store.figure_records import panel_texts
from subfigure_detector.label_reader import canonical_label


@pytest.mark.parametrize(
    "a,b",
    [("B′", "B'"), ("(b')", "B′"), ("b’", "B′"), ("A″", "A′′"), ("(a)", "A"), ("Aii", "(aii)"), ("C.", "c")],
)
def test_spellings_of_one_panel_share_a_key(a, b):
    assert panel_key(a) == panel_key(b) and same_panel(a, b)


def test_different_panels_and_empty_labels_do_not_match():
    assert not same_panel("A", "A′") and not same_panel("A′", "A′′") and not same_panel("B1", "B")
    assert panel_key(None) == panel_key("()") == "" and not same_panel("", "")


def test_the_detectors_primed_read_aligns_with_the_captions_primed_label():
    read = [canonical_label("(a)"), canonical_label("(a')"), canonical_label("b")]
    assert read == ["A", "A'", "B"]
    assert align(read, ["A", "A′", "B"]) == {0: 0, 1: 1, 2: 2}


def test_panel_texts_give_a_primed_panel_its_primed_subcaption():
    from types import SimpleNamespace as NS

    panels = [NS(id=1, label="A"), NS(id=2, label="A'")]
    subs = [NS(id=10, subfigure_id=None, label="A"), NS(id=11, subfigure_id=None, label="A′")]
    out = panel_texts(panels, subs, [], [], {})
    assert out[1].subcaption.id == 10 and out[2].subcaption.id == 11
