"""Spaces put back where a caption's source lost them at line breaks (captions/respace.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from captions.respace import respace
from captions.subcaptions import split_caption

FIXTURES = Path(__file__).parent / "fixtures" / "nxml"


@pytest.mark.parametrize(
    ("glued", "spaced"),
    [
        ("the associationbetween high expression and survival", "the association between high expression and survival"),
        ("images of twoseparate mitochondria", "images of two separate mitochondria"),
        ("Quantification isshown in the graph", "Quantification is shown in the graph"),
        ("measured theefficiency of delivery", "measured the efficiency of delivery"),
        ("three cyclesof washing", "three cycles of washing"),
        ("the mean fluorescenceintensity per cell", "the mean fluorescence intensity per cell"),
        ("Data are from threeindependent experiments.", "Data are from three independent experiments."),
        ("cells were treated withBafA1 for 2 h", "cells were treated with BafA1 for 2 h"),
        ("Cells are shown. Insetsare magnified 3x.", "Cells are shown. Insets are magnified 3x."),
        ("Time points indicatedas in A", "Time points indicated as in A"),
    ],
)
def test_glued_pairs_are_split(glued: str, spaced: str) -> None:
    assert respace(glued) == spaced


@pytest.mark.parametrize(
    "text",
    [
        # real terms that split into two words but are not glue
        "nanochromosomes in the macronuclear genome",
        "the outdegree and indegree of each node",
        "chordin and noggin expression",
        "Caulobacter crescentus cells",
        "musculus sagittalis and Ficus mediaevalis",
        "stretchability of the film and its targetability",
        "photobleached regions; electrospraying; reinfusion; monotherapies",
        "a neuromere boundary",
        # names, identifiers, URLs and TeX are left alone
        "as reported by Botsis et al.",
        "GeneSwitch flies; RNeasy kit; SureSelect capture; NEXTflex library",
        "registered at clinicaltrials.gov and figshare.com",
        "\\usepackage[substack]{amsmath}",
        "KDM5C, siRNA, shYY1 and mAb",
        # other languages of PMC captions
        "Os resultados foram avaliados por processos estatísticos",
        "Los intervalos de confianza",
        # ordinary text
        "Representative confocal images; scale bars, 10 µm.",
        "",
    ],
)
def test_real_words_are_left_alone(text: str) -> None:
    assert respace(text) == text


def test_spaced_jats_text_is_almost_never_changed() -> None:
    """JATS paragraphs are spaced correctly: on the fixtures, a change is rare and a real glue."""
    paragraphs = changed = 0
    for path in sorted(FIXTURES.rglob("*.*xml")):
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
        for p in tree.iter("{*}p", "p"):
            text = " ".join("".join(p.itertext()).split())
            paragraphs += 1
            if respace(text) != text:
                changed += 1
    assert paragraphs > 500
    assert changed <= paragraphs // 200


def test_split_caption_respaces_panel_texts() -> None:
    subs = split_caption(
        "Gα signalling. (A) Flow-induced alignment isshown for control cells. "
        "(B) Src activation, quantified withthree independent experiments."
    )
    assert [s.label for s in subs] == ["A", "B"]
    assert "is shown" in subs[0].text and "isshown" not in subs[0].full_text
    assert "with three independent" in subs[1].full_text


def test_respace_handles_large_and_odd_input() -> None:
    big = "word " * 20_000 + "associationbetween"
    assert respace(big).endswith("association between")
    assert respace("ΔΔCt 中文 Русский текст") == "ΔΔCt 中文 Русский текст"
