"""Modality gold-v2 (issue 14) and the learned dominant pick: traceable labels, a frozen split, floors."""

from __future__ import annotations

import numpy as np
import pytest

from captions.modality import classify_figure, taxonomy
from captions.modality_gold import load_modality_gold, score_modalities
from captions.modality_model import EMBEDDER_DIR, MODEL_DIR, DominantModel, default_model, embed

GOLD = load_modality_gold()


def test_gold_is_large_varied_traceable_and_uses_taxonomy_codes():
    codes = {d.code for d in taxonomy()}
    assert len(GOLD) >= 1000 and len({f.meta.get("journal") for f in GOLD}) >= 30
    for f in GOLD:
        assert f.modalities and f.modalities <= codes, f.id
        assert f.dominant in f.modalities, f.id
        assert f.meta.get("licence") and f.meta.get("source") and f.caption.strip(), f.id
    assert {f.split for f in GOLD} == {"dev", "test"}
    rare = {"radiology.ct", "radiology.mri", "radiology.ultrasound", "photography.endoscopy",
            "photography.fundus", "photography.oct", "photography.clinical", "microscopy.electron", "graphics.gel_blot"}
    assert rare <= {c for f in GOLD for c in f.modalities}


def test_the_model_files_are_plain_data():
    arrays = np.load(MODEL_DIR / "modality_dominant.npz", allow_pickle=False)
    assert {"coef", "intercept", "idf"} <= set(arrays.files)


def test_the_caption_embedder_is_shipped_and_places_like_captions_together():
    assert (EMBEDDER_DIR / "model.safetensors").stat().st_size < 5_000_000  # int8, 128 dimensions
    assert "apache-2.0" in (EMBEDDER_DIR / "README.md").read_text()
    histology, micrograph, chart = embed(["H&E-stained section of the liver",
                                          "Photomicrograph of hepatic tissue",
                                          "Bar graph of mean body weight per group"])
    assert abs(float(histology @ histology) - 1.0) < 1e-3
    assert histology @ micrograph > histology @ chart + 0.1


def test_a_mixed_figure_keeps_its_set_and_the_model_picks_its_dominant_within_it():
    caption = ("Autophagy in HeLa cells. (A) Confocal immunofluorescence images of LC3 puncta. (B) Western blot "
               "of LC3-II. (C) Quantification of puncta per cell (mean ± SD, n = 30).")
    fm = classify_figure(caption)
    assert {"microscopy.fluorescence", "graphics.gel_blot", "graphics.chart"} <= set(fm.codes)
    assert fm.dominant.code in fm.codes
    rules = classify_figure(caption, learned=False)
    assert rules.codes == fm.codes  # the model chooses the dominant, never the set


def test_nothing_to_go_on_stays_other():
    assert classify_figure("").dominant.code == "other"
    assert classify_figure("Ἀρχὴ ἥμισυ παντός.").dominant.code == "other"


def test_a_missing_model_is_a_clear_error_and_the_rules_stand(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="modality model"):
        DominantModel(tmp_path)
    import captions.modality_model as mm

    monkeypatch.setattr(mm, "MODEL_DIR", tmp_path)
    default_model.cache_clear()
    monkeypatch.setattr(mm, "default_model", lambda: None)
    caption = "Chest CT (A) and MRI of the brain (B) of a patient."
    assert classify_figure(caption).codes == classify_figure(caption, learned=False).codes
    default_model.cache_clear()


@pytest.mark.parametrize("split,macro_floor,acc_floor", [("dev", 0.72, 0.85), ("test", 0.64, 0.79)])
def test_figure_level_floors(split, macro_floor, acc_floor):
    """Reached 2026-12-08 (bench/RESULTS.md, 'Figure modalities on gold-v2'); the model saw dev."""
    figs = [f for f in GOLD if f.split == split]

    def shipped(f):
        fm = classify_figure(f.caption, caption_xml=f.meta.get("caption_xml"))
        return fm.dominant.code, fm.codes

    sc = score_modalities(figs, shipped)
    assert sc.macro_f1 >= macro_floor and sc.accuracy >= acc_floor, (sc.macro_f1, sc.accuracy)


def test_a_rules_code_the_model_never_saw_stands():
    """The model replaces the rules' dominant only where the rules found nothing ("other")."""
    model = default_model()
    fm = classify_figure("Transmission electron micrograph of a mitochondrion.", learned=False)
    fm.codes = ["radiology.unseen-kind"]  # a code absent from the model's training labels
    assert "radiology.unseen-kind" not in model.codes
    assert model.pick_dominant("Transmission electron micrograph of a mitochondrion.", fm) is None
