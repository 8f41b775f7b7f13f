"""The learned panel-marker tagger (captions/marker_tagger.py) beside the rules (issue 13)."""

from __future__ import annotations

import pytest

from captions import marker_tagger as mt
from captions.gold import GoldFigure
from captions.markers import caption_text
from captions.subcaptions import split_caption, split_caption_rules


def _tags(fig: GoldFigure) -> dict[str, str]:
    ct = caption_text(fig.caption)
    toks = mt.tokenize(ct.text)
    return {f"{t.text}@{t.start}": tag for t, tag in zip(toks, mt.gold_tags(fig, ct, toks)) if tag != "O"}


def test_gold_tags_mark_the_labels_the_gold_removed_and_keep_the_ones_it_keeps():
    fig = GoldFigure(
        "x", "Vitamin A in organs. (A) Liver of mice. (B) Kidney of mice fed vitamin A.",
        [("A", "Vitamin A in organs. Liver of mice."), ("B", "Vitamin A in organs. Kidney of mice fed vitamin A.")],
    )
    assert _tags(fig) == {"A@22": "open", "B@41": "open"}


def test_gold_tags_read_closing_labels_the_rules_missed_from_the_gold_text():
    fig = GoldFigure(
        "x", "Chemical structures of A, THL and B, MmPPOX.",
        [("A", "Chemical structures of THL."), ("B", "Chemical structures of MmPPOX.")],
    )
    assert _tags(fig) == {"A@23": "open", "B@34": "open"}


def test_the_shipped_model_splits_real_captions_the_rules_leave_whole():
    # gold-v2 dev: eLife 10.7554/eLife.12548 (CC BY 4.0) and SciELO 10.1590/2236-8906-127/2020 (CC BY)
    elife = ("Superimposing Snf7core (blue) with (A) CHMP4Bα1-α2 (cyan) (PDB: 4ABM), with (B) CHMP3α1-α4 "
             "(purple) (PDB: 3FRT), with (C) CHMP6α1 (red) (PDB: 3HTU) Snf7core, and with (D) IST1α1-α6 "
             "(grey) (PDB: 3FRR).")
    assert split_caption_rules(elife) == []
    assert [s.label for s in split_caption(elife)] == ["A", "B", "C", "D"]
    scielo = ("Lejeunea angusta (Lehm. & Lindenb.) Mont. a. Gametophyte. b. Lobule detail. Microlejeunea "
              "cystifera Herzog c. Lobule detail. d. Gametophyte.")
    assert [s.label for s in split_caption_rules(scielo)] == ["a", "b", "d"]
    assert [s.label for s in split_caption(scielo)] == ["a", "b", "c", "d"]


def test_the_rules_stand_where_the_tagger_names_nothing_more():
    cap = "Brain MRI. (A) T1. (B) T2 with contrast. Scale bar, 1 cm."
    assert split_caption(cap) == split_caption_rules(cap)
    assert split_caption("No panels here, only a single photograph of a leaf.") == []


def test_without_a_model_the_rules_alone_split(monkeypatch, tmp_path):
    monkeypatch.setattr(mt, "MODEL", tmp_path / "missing.crfsuite")
    mt.default_tagger.cache_clear()
    try:
        assert mt.default_tagger() is None
        elife = "Snf7core with (A) CHMP4B (PDB: 4ABM), with (B) CHMP3 (PDB: 3FRT), and with (C) CHMP6 (PDB: 3HTU)."
        assert split_caption(elife) == split_caption_rules(elife)
    finally:
        mt.default_tagger.cache_clear()


def test_training_is_reproducible_from_the_repository_gold(tmp_path):
    figs = mt.load_training_gold()
    assert len(figs) >= 300 and all(f.split == "dev" for f in figs)
    out = mt.train(figs[:80], tmp_path / "m.crfsuite", iterations=30)
    tagger = mt.MarkerTagger(out)
    ct = caption_text("Organs. (A) Liver. (B) Kidney. (C) Lung.")
    assert [m.labels for m in tagger.markers(ct)] == [("A",), ("B",), ("C",)]


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="marker tagger model"):
        mt.MarkerTagger(tmp_path / "nope.crfsuite")
