"""Detector behaviours on real figures of the gold-v2 dev split, each failing if its rule breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from subfigure_detector.detect import Detector

IMAGES = Path(__file__).parent / "fixtures" / "compound-figures" / "gold-v2" / "images"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def test_letters_decide_the_panels(detector):
    # Four lettered panels (IJMS, MDPI); without the grouping a piece of one stays a fifth panel.
    image = str(IMAGES / "pmcimg-ijms-23-12106-g002.jpg")
    assert len(Detector(group_by_labels=False).detect_one(image).panels) == 5
    assert len(detector.detect_one(image).panels) == 4


def test_unlettered_pictures_are_each_a_panel(detector):
    # Three unlettered pictures (PLoS ONE): of two splits equally without letters the finer wins.
    panels = detector.detect_one(str(IMAGES / "pub-plos0091296-g001.jpg")).panels
    assert len(panels) == 3 and not any(p.label for p in panels)
