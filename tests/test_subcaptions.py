"""Subcaption splitting: each marker form, each look-alike that must not split, ranges, positional
labels, closing labels, the full_text convention, bad input and the JSON-lines front end.

The captions are written in the style of real PMC legends (several are adapted from real ones).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from captions import Subcaption, split_caption
from captions.markers import expand_group, find_markers
from captions.split_cli import split_jsonl
from captions.subcaptions import split_caption_rules


def labels(caption: str, xml: str | None = None) -> list[str]:
    return [s.label for s in split_caption(caption, xml)]


def by_label(caption: str, xml: str | None = None) -> dict[str, Subcaption]:
    return {s.label: s for s in split_caption(caption, xml)}


# --------------------------------------------------------------------------------------------
# Marker forms
# --------------------------------------------------------------------------------------------


def test_parenthesised_labels_open_their_clause():
    caption = (
        "Histology of the resected lesion. (A) Haematoxylin and eosin staining shows a dense lymphoid "
        "infiltrate. (B) Ki-67 immunostaining highlights proliferating cells."
    )
    subs = by_label(caption)
    assert list(subs) == ["A", "B"], f"expected panels A and B, got {list(subs)}"
    assert subs["A"].text == "Haematoxylin and eosin staining shows a dense lymphoid infiltrate."
    assert subs["B"].text == "Ki-67 immunostaining highlights proliferating cells."


def test_letter_with_full_stop_even_when_glued_to_the_title():
    caption = (
        "Mdm2 mutation reduces prostate size.A. Photographs of prostates from 6-month-old mice. "
        "B. Prostate mass (mean ± SD, n = 12 per group). C. H&E staining of prostate sections."
    )
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C"], f"'size.A.' must open panel A; got {list(subs)}"
    assert subs["A"].full_text == "Mdm2 mutation reduces prostate size. Photographs of prostates from 6-month-old mice."


def test_half_bracket_lowercase_labels():
    caption = "Effect of castration. a) H&E sections of intact mice. b) Timeline of castration. c) Number of basal cells."
    assert labels(caption) == ["a", "b", "c"]


def test_square_brackets():
    caption = "Imaging of a pulmonary nodule. [A] Axial CT showing a spiculated mass. [B] Coronal reconstruction."
    assert labels(caption) == ["A", "B"]


def test_colon_labels_after_a_closing_bracket():
    caption = "Glut5 in a tissue array. A: Brain cortex (neurons and microglia) B: Colon mucosa; C: Liver."
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C"], "B: after ')' starts a panel even without a full stop"
    assert subs["A"].text == "Brain cortex (neurons and microglia)"
    assert subs["B"].text == "Colon mucosa"


def test_comma_labels_in_plain_text():
    caption = "Cytoplasmic GLUT1 in carcinomas. A, prostate tumor; B, papillary thyroid tumor; C, gastric tumor."
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C"]
    assert subs["B"].text == "papillary thyroid tumor"


def test_bold_labels_from_caption_xml():
    xml = (
        "<caption><title>Loss of FOXO1 impairs sprouting.</title><p><bold>A</bold>, Western blot of FOXO1. "
        "<bold>B</bold>, Sprouting assay of spheroids. <bold>C</bold>, Migration speed of single cells.</p></caption>"
    )
    plain = "Loss of FOXO1 impairs sprouting. A, Western blot of FOXO1. B, Sprouting assay of spheroids. C, Migration speed of single cells."
    subs = by_label(plain, xml)
    assert list(subs) == ["A", "B", "C"]
    assert subs["B"].full_text == "Loss of FOXO1 impairs sprouting. Sprouting assay of spheroids."


def test_bare_letters_need_a_sequence():
    caption = (
        "Histopathological characterisation. a ×10 magnification showing benign glands. "
        "b ×40 magnification of the tumour. c PSA immunohistochemistry."
    )
    assert labels(caption) == ["a", "b", "c"]
    # an article "A" opening a sentence is not panel A
    assert labels("A representative image of the tumour. A total of 20 mice were used.") == []


def test_range_gives_one_subcaption_per_letter_with_the_same_text():
    caption = "Knockdown. (A–C) Volcano plots of differentially expressed genes. (D) Venn diagram of the overlap."
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C", "D"]
    assert subs["A"].text == subs["B"].text == subs["C"].text == "Volcano plots of differentially expressed genes."


def test_lowercase_range_with_hyphen():
    assert labels("Progression. (a-d) Sections at 1, 3, 6 and 9 months. (e) Quantification.") == ["a", "b", "c", "d", "e"]


def test_lists_of_labels():
    subs = by_label("Tumours. (A, B) Representative images of control and treated mice. (C) Tumour volume.")
    assert list(subs) == ["A", "B", "C"]
    assert subs["A"].text == subs["B"].text
    caption = (
        "Hormone treatment. A and B) Inflammation incidence in treated mice. A) H&E staining of a prostate. "
        "B) Percentage of inflammation in every genotype."
    )
    subs = by_label(caption)
    assert list(subs) == ["A", "B"]
    assert subs["A"].text == "Inflammation incidence in treated mice. H&E staining of a prostate."
    assert subs["B"].text == "Inflammation incidence in treated mice. Percentage of inflammation in every genotype."


def test_numbered_sub_labels_and_primes():
    assert labels("Organoids. (A1/A2) GFP and DAPI channels. (B) Fraction of GFP-positive cells.") == ["A1", "A2", "B"]
    caption = "Embryos. (A) Wild type. (B, B′) Control construct. (C, C′) Rescue construct."
    assert labels(caption) == ["A", "B", "B′", "C", "C′"]


def test_roman_numerals_and_their_ranges():
    caption = "Transition to carcinoma. (i) High-grade PIN. (ii) Microinvasive lesions. (iii) Ki-67-positive cells."
    assert labels(caption) == ["i", "ii", "iii"]
    assert labels("Serial sections. (i–iii) Low-magnification views. (iv) The boxed area.") == ["i", "ii", "iii", "iv"]


def test_roman_numerals_inside_lettered_panels_are_not_panels():
    caption = (
        "Adaptors. (A) Cells expressing OPTN (i), OPTN and nanobody (ii), or OPTN mutant (iii). "
        "(B) Immunoprecipitation of OPTN mutants."
    )
    assert labels(caption) == ["A", "B"]


def test_expand_group_forms():
    assert expand_group("A–C") == ["A", "B", "C"]
    assert expand_group("A-C, E, G") == ["A", "B", "C", "E", "G"]
    assert expand_group("A and B") == ["A", "B"]
    assert expand_group("A1/A2") == ["A1", "A2"]
    assert expand_group("i–iii") == ["i", "ii", "iii"]
    assert expand_group("W/W") == [], "a genotype repeats a letter; it is not a list of panels"
    assert expand_group("C–A") == [], "a backward range is not a range"


# --------------------------------------------------------------------------------------------
# Positional labels
# --------------------------------------------------------------------------------------------


def test_positional_left_right():
    subs = by_label("PET-CT of the patient. Left: axial CT showing a nodule. Right: fused PET image showing uptake.")
    assert list(subs) == ["left", "right"]
    assert subs["left"].full_text == "PET-CT of the patient. axial CT showing a nodule."


def test_positional_top_bottom_panels_keep_caption_order():
    caption = "Protein levels. Top panel: western blots of lysates. Bottom panel: densitometric quantification."
    assert labels(caption) == ["top", "bottom"]


def test_positional_compound_and_bracketed():
    caption = "The model. (Top) Intracellular dynamics. (Bottom, Left) Model domain. (Bottom, Right) Cell mechanics."
    assert labels(caption) == ["top", "bottom left", "bottom right"]


def test_positional_closing_labels_on_the_subject():
    caption = "Chest imaging: the CT scan (upper panel) shows a nodule, and the PET image (lower panel) shows uptake."
    subs = by_label(caption)
    assert subs["upper"].text == "the CT scan shows a nodule"
    assert subs["lower"].text == "the PET image shows uptake"


def test_positional_words_are_ignored_when_letters_label_the_panels():
    caption = "Heatmaps. (A) Left panel: expression. Right panel: correlation. (B) Pie charts of subfamilies."
    assert labels(caption) == ["A", "B"]


def test_inset_as_a_panel():
    caption = "Liver section stained for CD31. Main panel: low magnification of the lobule. Inset: higher magnification of a sinusoid."
    assert "inset" in labels(caption)


# --------------------------------------------------------------------------------------------
# Opening, closing and mentioned labels
# --------------------------------------------------------------------------------------------


def test_label_that_opens_a_clause():
    subs = by_label("Chest imaging. (A) CT showing a mass in the left lung. (B) MRI of the same lesion.")
    assert subs["A"].text == "CT showing a mass in the left lung."


def test_labels_that_close_their_clause():
    subs = by_label("Axial CT image (A) and T2-weighted MRI (B) of the brain showing a ring-enhancing lesion.")
    assert list(subs) == ["A", "B"]
    assert subs["A"].text.startswith("Axial CT image")
    assert "MRI" in subs["B"].text and "CT" not in subs["B"].text
    # the words after the last label ("of the brain…") belong to both panels
    assert "of the brain" in subs["A"].text and "of the brain" in subs["B"].text


def test_closing_labels_with_semicolons_and_shared_tail():
    caption = (
        "Lipoprotein receptors in prostate cancer. Tissue stained for LDLR (a); a consecutive section stained "
        "for SR-BI (b). Scale bar, 50 µm."
    )
    subs = by_label(caption)
    assert subs["a"].full_text == (
        "Lipoprotein receptors in prostate cancer. Tissue stained for LDLR. Scale bar, 50 µm."
    )
    assert subs["b"].full_text == (
        "Lipoprotein receptors in prostate cancer. a consecutive section stained for SR-BI. Scale bar, 50 µm."
    )


def test_missing_full_stops_between_panels():
    caption = "Erg protein in adult tissues: (A) Bone marrow (B) Liver (C) Lung. Expression is mainly endothelial."
    subs = by_label(caption)
    assert [s.text for s in subs.values()] == ["Bone marrow", "Liver", "Lung."]


def test_inline_labels_either_or():
    caption = "ERG status. ERG status was determined by either (A) immunohistochemistry or (B) fluorescence in situ hybridization."
    subs = by_label(caption)
    assert subs["A"].text == "immunohistochemistry"
    assert subs["B"].text == "fluorescence in situ hybridization."


def test_closing_labels_subdivide_a_range():
    caption = "Markers. (A–C) Immunostaining for CK5 (A), CK8 (B) and AR (C) in serial sections. (D) Quantification."
    subs = by_label(caption)
    assert "CK5" in subs["A"].text and "CK8" not in subs["A"].text
    assert "CK8" in subs["B"].text and "AR" not in subs["B"].text.split()
    assert all("in serial sections" in subs[lab].text for lab in "ABC")


def test_mentioned_label_inherits_the_clause_that_mentions_it():
    caption = "Flow responses. A, Flow-induced alignment. B, Src activation, quantified in C. n=5. D, Rescue experiments."
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C", "D"]
    assert subs["C"].text == subs["B"].text == "Src activation, quantified in C. n=5."


def test_mentions_of_other_panels_do_not_cut():
    caption = "CD57 and PSA. (A) Cancer with strong CD57. (B) Same case (deeper section) as (A) with absent PSA."
    subs = by_label(caption)
    assert subs["B"].text == "Same case (deeper section) as (A) with absent PSA."


def test_data_information_reopens_panels():
    xml = (
        "<p><bold>A</bold>. Viability. <bold>B</bold>. Colony formation. <bold>C</bold>. Apoptosis.</p>"
        "<p>Data information: (A, C) Mean ± SD of three replicates. (B) Representative of two experiments.</p>"
    )
    subs = by_label("", xml)
    assert subs["A"].text == "Viability. Mean ± SD of three replicates."
    assert subs["B"].text == "Colony formation. Representative of two experiments."
    assert subs["C"].text == "Apoptosis. Mean ± SD of three replicates."


def test_in_panel_openers():
    caption = "Spectra. In panel A (1.1–1.7 ppm), H-3 correlates with H-4. Panel B (2.4–4.0 ppm) shows H-1. Panel C shows methyls."
    assert labels(caption) == ["A", "B", "C"]


# --------------------------------------------------------------------------------------------
# Look-alikes that are not markers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caption",
    [
        "Quantification of the blots shown in Fig. 2A and Figure 3(B); data are mean ± SD (n = 5), P < 0.05.",
        "Same as Figs. 2F–2H and Supplementary Fig. S1(C), in MEF.",
        "Expression of p53, BRCA1 and HER2 in B cells and T cells treated with (S)-ketamine.",
        "(E)-resveratrol and (Z)-tamoxifen were added to E. coli and S. aureus cultures.",
        "Hematoxylin and eosin (H & E) staining of the cell(s) of interest (n = 3; p < 0.01).",
        "Kaplan–Meier curves of overall survival (log-rank P = 0.003); vitamin D and hepatitis B status.",
        "Mean ± S.E.M. of three experiments, i.e. 30 cells per condition; 5 mM glucose, 10 mA current.",
        "Genotypes (W/W) and (+/+) were compared with heterozygotes (W/Δ32).",
        "(A) Only one panel is labelled in this caption.",
    ],
)
def test_look_alikes_give_no_subcaptions(caption):
    assert split_caption(caption) == [], f"no panel markers expected in: {caption!r}"


def test_look_alikes_inside_a_compound_caption_do_not_add_panels():
    caption = (
        "Bacterial load. (A) E. coli counts after (E)-resveratrol (n = 5 mice per group), as in Fig. 2C. "
        "(B) B cells and T cells in the spleen; P < 0.05 versus vehicle (H & E, ×200)."
    )
    assert labels(caption) == ["A", "B"]


def test_figure_cross_reference_with_bracketed_letter_is_not_a_panel():
    caption = "Migration. (A) Cells as in Figure 1(C) were tracked. (B) Speed of the cells shown in Fig. 3 (D)."
    assert labels(caption) == ["A", "B"]


# --------------------------------------------------------------------------------------------
# full_text convention
# --------------------------------------------------------------------------------------------


def test_full_text_is_title_plus_own_words_plus_shared_tail():
    caption = (
        "Histology of the lesion. The tissue was fixed in formalin. (A) H&E staining. (B) Ki-67 staining. "
        "Scale bars, 50 µm."
    )
    subs = by_label(caption)
    assert subs["A"].text == "H&E staining."
    assert subs["A"].full_text == "Histology of the lesion. The tissue was fixed in formalin. H&E staining. Scale bars, 50 µm."
    assert subs["B"].full_text == "Histology of the lesion. The tissue was fixed in formalin. Ki-67 staining. Scale bars, 50 µm."


def test_panel_specific_statistics_stay_with_their_panel():
    caption = (
        "Screens. (A) Viability of treated cells. ***P < 0.001, t-test. (B) Colony counts. **P < 0.01, t-test. "
        "(C) Apoptosis. *P < 0.05, t-test."
    )
    subs = by_label(caption)
    assert subs["C"].text == "Apoptosis. *P < 0.05, t-test."
    assert "*P < 0.05" not in subs["A"].full_text


def test_markers_are_removed_from_the_text():
    for sub in split_caption("Title. (A) First panel. (B) Second panel."):
        assert "(A)" not in sub.full_text and "(B)" not in sub.full_text


def test_leading_figure_label_is_not_part_of_the_caption():
    subs = by_label("Figure 3. (A) CT. (B) MRI.")
    assert subs["A"].full_text == "CT."


def test_trailing_doi_link_is_dropped():
    subs = by_label("Title. (A) One. (B) Two.DOI: http://dx.doi.org/10.7554/eLife.00013.017")
    assert "doi" not in subs["B"].full_text.lower()


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_empty_and_blank_captions():
    assert split_caption("") == []
    assert split_caption("   \n ") == []
    assert split_caption("", "") == []
    assert split_caption("", "<caption><p></p></caption>") == []


def test_non_string_caption_is_a_clear_error():
    with pytest.raises(TypeError, match="caption must be a string"):
        split_caption(42)  # type: ignore[arg-type]


def test_non_english_captions():
    spanish = "Caracterización histológica. (A) Tinción con hematoxilina y eosina. (B) Inmunohistoquímica para Ki-67."
    assert labels(spanish) == ["A", "B"]
    chinese = "图1 组织学特征。(A) HE染色。(B) Ki-67免疫组化。"
    subs = by_label(chinese)
    assert list(subs) == ["A", "B"]
    assert subs["A"].text == "HE染色。"


def test_markup_laden_caption_without_xml_argument():
    caption = (
        "<p><strong>A</strong>, Flow-induced alignment (p&lt;0.0001; 12 dynes/cm<sup>2</sup>).\n"
        "<strong>B</strong>, Src family kinase activation.</p>"
    )
    subs = by_label(caption)
    assert list(subs) == ["A", "B"]
    assert subs["A"].text == "Flow-induced alignment (p<0.0001; 12 dynes/cm2)."


def test_broken_markup_does_not_crash():
    assert labels("<p><bold>A</b> text <strong>B, more <<<>>> &#xZZZ; &nbsp; (C) end") is not None


def test_enormous_caption_is_split_quickly():
    block = "Histology. (A) H&E staining shows an infiltrate (arrows). (B) Ki-67 staining, quantified in (C). "
    caption = block * (100_000 // len(block))
    t0 = time.perf_counter()
    subs = split_caption(caption)
    assert time.perf_counter() - t0 < 5, "a 100 kB caption must not take seconds"
    assert [s.label for s in subs] == ["A", "B", "C"]


@pytest.mark.parametrize(
    "garbage",
    ["(" * 30_000 + ")" * 30_000, "A. " * 20_000, "x" * 100_000, " ".join("abcdefgh") * 5_000],
)
def test_adversarial_input_terminates(garbage):
    t0 = time.perf_counter()
    split_caption(garbage)
    assert time.perf_counter() - t0 < 10


# --------------------------------------------------------------------------------------------
# find_markers (used by other caption code)
# --------------------------------------------------------------------------------------------


def test_find_markers_reports_kinds():
    _, markers = find_markers("Tissue stained for LDLR (a) and SR-BI (b). (c) Quantification.")
    kinds = {m.labels: m.kind for m in markers}
    assert kinds[("a",)] == "close" and kinds[("c",)] == "open"


# --------------------------------------------------------------------------------------------
# JSON-lines front end (figmine split-caption)
# --------------------------------------------------------------------------------------------


def test_split_jsonl_good_bad_and_blank_lines():
    lines = [
        json.dumps({"id": "f1", "caption": "Title. (A) CT. (B) MRI."}),
        "",
        "{not json",
        json.dumps({"id": "f3", "caption": 5}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "f5"}),
        json.dumps({"id": "f6", "caption": "A single-panel caption."}),
        json.dumps({"id": "f7", "caption": "", "caption_xml": "<p><bold>a</bold> One. <bold>b</bold> Two.</p>"}),
    ]
    out = io.StringIO()
    split_jsonl(io.StringIO("\n".join(lines) + "\n"), out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 7, "one output line per non-blank input line"
    assert rows[0] == {
        "id": "f1",
        "subcaptions": [
            {"label": "A", "text": "CT.", "full_text": "Title. CT."},
            {"label": "B", "text": "MRI.", "full_text": "Title. MRI."},
        ],
    }
    assert rows[1]["id"] is None and "invalid JSON" in rows[1]["error"]
    assert rows[2] == {"id": "f3", "error": "caption is a int, not a string"}
    assert "expected a JSON object" in rows[3]["error"]
    assert rows[4] == {"id": "f5", "error": "caption is missing"}
    assert rows[5] == {"id": "f6", "subcaptions": []}
    assert [s["label"] for s in rows[6]["subcaptions"]] == ["a", "b"]


def test_split_jsonl_keeps_unicode():
    out = io.StringIO()
    split_jsonl(io.StringIO(json.dumps({"id": "u", "caption": "Δ32. (A) µm. (B) β-catenin."}) + "\n"), out)
    assert "β-catenin" in out.getvalue()


def test_comparison_signs_are_not_markup():
    subs = by_label("Thresholds p<b and c>d were used. (A) One condition. (B) Another condition.")
    assert list(subs) == ["A", "B"]
    assert "p<b and c>d" in subs["A"].full_text


def test_run_stdio_reads_and_writes_utf8(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    payload = json.dumps({"id": "x", "caption": "Title. (A) β-catenin. (B) MRI."}, ensure_ascii=False) + "\nnot json\n"
    proc = subprocess.run(
        [sys.executable, "-c", "from captions.split_cli import run_stdio; run_stdio()"],
        input=payload.encode("utf-8"), capture_output=True, cwd=root, env={"LC_ALL": "C", "PATH": ""}, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert rows[0]["subcaptions"][0]["text"] == "β-catenin."
    assert "error" in rows[1]


# --------------------------------------------------------------------------------------------
# Captions whose text lost spaces or carries broken markup (SourceData EMBO captions)
# --------------------------------------------------------------------------------------------


def test_first_label_glued_to_its_first_word():
    # EMBOR-2024-59101V1-T Figure 3: the label "A" lost its space ("AWestern blot"); "B" is bare
    caption = (
        "AWestern blot showing the efficiency of EDEM1 silencing in HEK293 cells.B Delivery of NHK in "
        "control cells (upper panels) and in cells with reduced ERAD upon EDEM1 silencing (lower panels).C "
        "LysoQuant quantification of B (n=39 and 25 cells, respectively)."
    )
    subs = by_label(caption)
    assert list(subs) == ["A", "B", "C"], f"the glued first label was not read: {list(subs)}"
    assert subs["A"].text == "Western blot showing the efficiency of EDEM1 silencing in HEK293 cells."
    assert "Western blot" not in subs["B"].full_text, "panel A's words leaked into B as shared text"


def test_glued_capital_at_caption_start_is_not_a_label_without_bare_b():
    # an acronym opening the caption ("ATG7", "AMPK") stays a word when B is written "(B)"
    assert labels("ATG7 knockout cells. (A) Western blot. (B) Quantification.") == ["A", "B"]
    assert labels("AMPK activation in liver. B, C and D show controls.") == []


def test_label_range_glued_to_the_word_before_it():
    # EMBOR-2024-59101V1-T Figure 6: "PS341(L-N)" lost its space; it still closes L–N's item
    caption = (
        "(A-H) Controls in MEF cells. (I-N) Analysis of BACE457 delivery to endolysosomes in FAM134B KO cells treated with BafA1 and "
        "KIF (I-K) or BafA1 and PS341(L-N). (O) LysoQuant quantification of H-N."
    )
    subs = by_label(caption)
    assert "PS341" in subs["L"].text, f"L should own its item: {subs['L'].text!r}"
    assert "KIF" not in subs["L"].text, f"L took I–K's item: {subs['L'].text!r}"
    # a single letter glued to a word stays a plural or suffix
    assert labels("Number of cell(s) per field. (A) Control. (B) Treated.") == ["A", "B"]


def test_described_panels_reopened_for_a_scale_bar_note_after_a_missing_full_stop():
    # EMBOR-2024-59101V1-T Figure 3: "…***P<0.001 (B, E) Scale bars: 10μM." (no full stop before)
    caption = (
        "A Western blot of EDEM1. B Delivery of NHK in control cells. C LysoQuant quantification of B. "
        "D Western blot of OS9. E Delivery of NHK in OS9 silenced cells. F LysoQuant quantification of E. "
        "Data Information: (C, F) Mean is shown. One-way ANOVA, ****P<0.0001, ***P<0.001 (B, E) Scale "
        "bars: 10μM. Insets are shown with white squares."
    )
    subs = by_label(caption)
    for lab in ("B", "E"):
        assert "Scale bars: 10μM" in subs[lab].full_text, f"{lab} lost its scale-bar note: {subs[lab].full_text!r}"
    assert "Scale bars" not in subs["A"].full_text and "Scale bars" not in subs["C"].full_text


def test_inline_label_before_an_ordinary_word_is_still_a_mention():
    subs = by_label("(A) Liver sections. (B) Lung sections, as in (A) Both stained with H&E.")
    assert "Both stained" in subs["B"].text


def test_later_sentence_of_an_opening_group_does_not_take_the_previous_sentence_tail():
    # EMBOJ-2023-115537 Figure 4: the tail "of two separate mitochondria …" is about the whole group
    caption = (
        "(A–D) Time-lapse images (A and C) and spline graphs (B and D) of two separate mitochondria "
        "approaching and contacting each other. Events of the attachment of two mitochondria with comparable "
        "sizes (A and B) and with differing sizes (C and D) were observed. (E) Model."
    )
    subs = by_label(caption)
    for lab in "ABCD":
        assert "two separate mitochondria" in subs[lab].full_text, f"{lab}: {subs[lab].full_text!r}"


def test_tag_with_its_attribute_glued_to_the_name_is_stripped():
    # EMBOJ-2023-115537: '<spanclass="math inline">' (a lost space inside the tag)
    xml = (
        '(A) The strength of <spanclass="math inline">χself</span> was changed. '
        "(B) Surface tension was set to 1."
    )
    subs = by_label("", xml)
    assert subs["A"].text == "The strength of χself was changed.", subs["A"].text
    assert "spanclass" not in subs["A"].full_text


def test_letters_that_jump_ahead_are_symbols_not_panels() -> None:
    # a model's variables written like a label list, after panels A–D (journal.pone.0114370, Figure 4)
    subs = split_caption(
        "Bifurcation curve. (A) High and low glucose levels (G) switch the module. (B) The proliferative "
        "region. (C, D) Dynamics at low (G = 0.1 in (C)) and intermediate (G = 0.45 in (D)) glucose levels. "
        "Curves start from (M, A, R)(0) = (2.1, 4.0, 5.0) and (2.2, 4.0, 5.0)."
    )
    assert [s.label for s in subs] == ["A", "B", "C", "D"]


def test_a_mention_beyond_the_last_panel_needs_the_letter_between() -> None:
    # "from the dorsal (D) to the ventral (V) midline" after panels A–T: V is an abbreviation
    labels = "ABCDEFGHIJKLMNOPQRST"
    caption = " ".join(f"({c}) Embryo {i}." for i, c in enumerate(labels)) + (
        " Depicted is one half of the surface from the dorsal (D) to the ventral (V) midline."
    )
    assert [s.label for s in split_caption(caption)] == list(labels)
    # …while the next letter, only mentioned, is still a panel; one letter further is not
    assert [s.label for s in split_caption("(A) Blots of the lysates. (B) Stains of the cells, quantified in C.")] == [
        "A", "B", "C"]
    assert [s.label for s in split_caption("(A) Blots of the lysates. (B) Stains of the cells, quantified in D.")] == [
        "A", "B"]


def test_jats_caption_markup_is_read_as_the_harvester_reads_it() -> None:
    """Embedded source-data files and the DOI stay out of the panels; formulas read as x^2, a/b."""
    xml = (
        '<caption xmlns:mml="http://www.w3.org/1998/Math/MathML"><title>Control parameters.</title>'
        "<p><bold>(A)</bold> Divergence angle as a function of "
        '<inline-formula><mml:math><mml:msub><mml:mi>Γ</mml:mi><mml:mi>D</mml:mi></mml:msub><mml:mo>=</mml:mo>'
        "<mml:mfrac><mml:mn>1</mml:mn><mml:mi>β</mml:mi></mml:mfrac></mml:math></inline-formula>."
        " <bold>(B)</bold> Plastochron as a function of Γ.</p>"
        '<p><object-id pub-id-type="doi">10.7554/eLife.00001.003</object-id></p>'
        "<supplementary-material><label>Figure 1—source data 1.</label><caption><p>Raw counts.</p></caption>"
        "</supplementary-material></caption>"
    )
    subs = split_caption("Control parameters. (A) … (B) …", xml)
    assert [s.label for s in subs] == ["A", "B"]
    assert "Γ_D=1/β" in subs[0].text
    assert all("source data" not in s.full_text and "10.7554" not in s.full_text for s in subs)
    # converted HTML that is not well-formed XML is still read
    html_caption = "<strong>A</strong>, Blots&nbsp;of lysates. <strong>B</strong>, Quantification."
    assert [s.label for s in split_caption("", html_caption)] == ["A", "B"]


def test_a_full_stop_after_fig_does_not_end_the_sentence() -> None:
    subs = split_caption(
        "Hands of the specimen. Photograph (A) and X-ray image (B) show the specimen preserved on plate A "
        "(Fig. 1). (C) Explanatory drawing. (D) Inset drawing of the wrist."
    )
    by = {s.label: s for s in subs}
    assert "1)" not in by["A"].text.split("Fig.")[0]
    # a coordinated subject shares its predicate
    assert "show the specimen preserved" in by["A"].text and "show the specimen preserved" in by["B"].text
    assert "Fig. 1" in by["B"].text


def test_the_scale_bar_sentence_is_figure_wide() -> None:
    subs = split_caption(
        "Kinesin activity. (A) Domain structure. (B) Sequence alignment of the motor domain. "
        "(C) A representative image of the neuron. The scale bar represents 10 μm."
    )
    assert all(s.full_text.endswith("The scale bar represents 10 μm.") for s in subs)
    assert "scale bar" not in subs[2].text


def test_the_rest_of_a_closing_labels_sentence_stays_with_its_labels() -> None:
    subs = {s.label: s.text for s in split_caption(
        "Exosome characterisation. TEM images (a), size (b), and zeta potential (c) of exosomes measured by "
        "DLS. Marker proteins on exosomes by Western blot analysis (d)."
    )}
    assert subs["c"] == "zeta potential of exosomes measured by DLS."
    assert subs["a"].endswith("of exosomes measured by DLS.")
    assert subs["d"] == "Marker proteins on exosomes by Western blot analysis"


def test_lead_in_words_and_wordless_closing_labels() -> None:
    subs = split_caption(
        "Photomicrograph of the ileum. In image (A) the layers are divided into mucosa (1) and muscle (2). "
        "Image (B) shows goblet cells, longitudinal muscle (L) and circular muscle (C)."
    )
    assert [s.label for s in subs] == ["A", "B"]  # "(C)" names a muscle layer inside B's sentence
    assert not subs[0].full_text.startswith("Photomicrograph of the ileum. In image")


def test_labels_naming_the_noun_after_a_preposition_open_panels() -> None:
    subs = split_caption(
        "Resolution of the obstruction after stent placement, as evidenced by (A) colonoscopy and "
        "(B) plain abdominal radiograph."
    )
    assert [(s.label, s.text) for s in subs] == [("A", "colonoscopy"), ("B", "plain abdominal radiograph.")]
    subs = {s.label: s.text for s in split_caption(
        "TEM images of (a,b) pure ZnO and (c,d) Ag/ZnO-30 nanostructures, and HAADF-STEM images of "
        "(e) Ag/ZnO-30 and (f) Ag/ZnO-40."
    )}
    assert sorted(subs) == list("abcdef")
    assert subs["e"] == "HAADF-STEM images of Ag/ZnO-30" and subs["d"] == "Ag/ZnO-30 nanostructures"
    # roman numerals after a preposition enumerate conditions; a preposition after the label is a mention
    assert split_caption("We ran simulations with (i) spiral initial conditions and (ii) whorled ones.") == []
    subs = {s.label: s.text for s in split_caption("(A) Blots. (B) Current traces of a device shown in (C) during the forming step.")}
    assert subs["B"] == "Current traces of a device shown in (C) during the forming step."


def test_a_label_inside_another_parenthesis_is_a_mention_and_stays_in_the_text() -> None:
    subs = split_caption(
        "(A) Bifurcation curve of the module. (B) Proliferative region. (C, D) Dynamics of the core system in "
        "response to low (G = 0.1 in (C)) and intermediate (G = 0.45 in (D)) glucose levels."
    )
    assert [s.label for s in subs] == ["A", "B", "C", "D"]
    assert all(s.text.count("(") == s.text.count(")") for s in subs)


def test_short_parallel_items_share_the_head_of_their_sentence() -> None:
    subs = {s.label: s.text for s in split_caption(
        "Dietary exposure to PBDE-47 altered relative transcript levels for TSHβ (A) and GPHα (B) in the "
        "pituitary gland. Levels are relative to template RNA."
    )}
    assert subs["A"] == "Dietary exposure to PBDE-47 altered relative transcript levels for TSHβ in the pituitary gland."
    assert subs["B"] == "Dietary exposure to PBDE-47 altered relative transcript levels for GPHα in the pituitary gland."
    # long items are clauses of their own: no head is copied
    subs = {s.label: s.text for s in split_caption(
        "Tissue from a patient with hyperplasia was stained for LDLR (a); a consecutive section of the same "
        "tumour was stained for SR-BI (b)."
    )}
    assert subs["b"].startswith("a consecutive section")


def test_a_label_list_that_names_its_own_panel_names_things() -> None:
    # lobe names inside the one panel of the figure, not panels B–D
    assert split_caption(
        "Structure of the complex. (A) The complex consists of 4 different lobes, each about 55 Å in "
        "diameter (A, B, C, D), interconnected by two narrow arms."
    ) == []


def _fixture_figure(name: str, label: str):
    from harvester.jats.parse import parse_jats

    path = Path(__file__).parent / "fixtures" / "nxml" / name
    return next(f for a in parse_jats(path.read_bytes()) for f in a.figures if f.label == label)


def test_real_elife_caption_panels_leave_out_source_data_and_doi():
    fig = _fixture_figure("elife-56337.nxml", "Figure 1")
    assert "source data" in fig.caption_xml  # the caption markup holds the embedded files
    subs = split_caption(fig.caption_text, fig.caption_xml)
    assert [s.label for s in subs] == ["A", "B", "C"]
    assert all("source data" not in s.full_text and "10.7554" not in s.full_text for s in subs)


def test_real_caption_items_share_their_sentence_head():
    fig = _fixture_figure("ehp-116-1694.nxml", "Figure 2")
    subs = {s.label: s.text for s in split_caption(fig.caption_text, fig.caption_xml)}
    assert subs["B"].startswith("Dietary exposure to PBDE-47 altered relative transcripts levels for GPHα")
    assert subs["A"].endswith("in the pituitary gland.")


def test_double_primes_and_ranges_to_a_primed_label_are_panels():
    """eLife style (gold-v2 dev, 10.7554/eLife.25014): "(A–A’’)", "(B–B′′)" name A, A′, A′′ — before,
    the double prime was not read as a label and the whole caption came out unsplit."""
    from captions.markers import expand_group

    assert expand_group("A–A’’") == ["A", "A′", "A′′"]
    assert expand_group("A, B–C′") == ["A", "B", "B′", "C", "C′"]
    assert expand_group("D″") == ["D′′"]
    cap = ("Meru localizes with polarity components. (A–A’’) Notum stained for Baz. (B–B’’) Notum stained "
           "for Dsh. (C) Quantification of co-localization.")
    subs = split_caption(cap)
    assert [s.label for s in subs] == ["A", "A′", "A′′", "B", "B′", "B′′", "C"]
    assert subs[4].full_text == "Meru localizes with polarity components. Notum stained for Dsh."


def test_first_label_run_into_a_title_without_full_stop():
    """Springer/BMC style (gold-v2 dev, PMC11555212): "…dataset a In the presence…" — the title has no
    full stop, so "a" stood after a word and was not read; b–g were found, a was lost."""
    cap = ("Activation of mouse DCs in the presence of COFs a In the presence of LPS, DCs expressed CD86. "
           "b DCs treated with COF1 had lower CD163. c Expression of CD206.")
    subs = split_caption(cap)
    assert [s.label for s in subs] == ["a", "b", "c"]
    assert subs[0].full_text == "Activation of mouse DCs in the presence of COFs. In the presence of LPS, DCs expressed CD86."
    # a title-case "A" with no bare "B" after it is a word, not a label
    assert split_caption("Effects of Vitamin A Supplementation on Growth. Rats (n = 5) gained weight.") == []


def test_parallel_labels_after_a_preposition_open_their_items():
    """SciELO (gold-v2 dev): "…grown in (a) 2017 and (b) 2018 production seasons." — "in (a)" read as a
    mention ("shown in (a)") left the caption unsplit; the parallel "and (b)" shows it opens an item."""
    subs = split_caption("Acidity during the ripening of grapes grown in (a) 2017 and (b) 2018 production seasons.")
    assert [s.label for s in subs] == ["a", "b"]
    assert "2017" in subs[0].full_text and "2018" not in subs[0].full_text and "2018" in subs[1].full_text
    assert split_caption("Cells shown in (A) and (B) are controls. Scale bar 5 µm.") == []


def test_statistics_notes_after_the_last_panel_are_shared():
    """eLife (gold-v2 dev): "…(o, p) IL-6 (o) and CDKN2A (p) expression. **p<0.01; ***p<0.001; n.s., not
    significant." closes the whole figure; panels with several sentences each kept it from the others."""
    cap = ("C75 reduces senescence. (a) Structure of C75. Activity was measured twice. (b) Western blot of "
           "prelamin A. Tubulin was the loading control. (c) Population doubling assays. **p<0.01; "
           "***p<0.001; n.s., not significant.")
    subs = split_caption(cap)
    assert [s.label for s in subs] == ["a", "b", "c"]
    assert all(s.full_text.endswith("n.s., not significant.") for s in subs), [s.full_text for s in subs]


@pytest.mark.parametrize(
    "caption,labels,first",
    [
        # a full stop inside the bracket (issue 13, failure class 1)
        ("Histology of the lesion. (a.) Low power view. (b.) High power view.", ["a", "b"],
         "Histology of the lesion. Low power view."),
        # "Notes:" heads the panels, it is no title they share
        ("Notes: (A) CT scan of the chest showing a mass. (B) PET scan showing uptake.", ["A", "B"],
         "CT scan of the chest showing a mass."),
        # a bare label closing a list after "and"
        ("Sections of the retina (a), the optic nerve (b), the lens (c), and d enlarged view of the capsule.",
         ["a", "b", "c", "d"], "Sections of the retina"),
    ],
)
def test_label_shapes_the_rules_missed(caption, labels, first):
    subs = split_caption_rules(caption)
    assert [s.label for s in subs] == labels
    assert subs[0].full_text == first


def test_parallel_items_opened_in_one_sentence_share_the_words_after_the_last():
    """gold-v2 convention: "in A) medial and B) lateral views" gives A "… medial views" (issue 13, class 3)."""
    subs = split_caption_rules("Mouse embryos in A) medial and B) lateral views. Scale bars, 100 µm.")
    assert [s.full_text for s in subs] == [
        "Mouse embryos in medial views. Scale bars, 100 µm.",
        "Mouse embryos in lateral views. Scale bars, 100 µm.",
    ]
    subs = split_caption_rules("Expression in (A) liver and (B) kidney cells of adult mice.")
    assert subs[0].full_text.startswith("Expression in liver cells of adult mice")
    # items of different lengths are clauses of their own: nothing is shared
    subs = split_caption_rules("Staining of (A) the liver of a control rat and (B) kidney tubules in a diabetic rat.")
    assert subs[0].full_text == "Staining of the liver of a control rat"


def test_numbered_parts_are_panels_only_when_no_letter_is_and_they_open_sentences():
    """Issue 13, failure class 1: "1. Before treatment. 2. After …" gave nothing. Lanes, compounds and
    layers numbered in brackets or after a colon stay unsplit (gold-v2 no-label captions)."""
    subs = split_caption("Wound healing in a diabetic foot. 1. Before treatment. 2. After two weeks. 3. After six weeks.")
    assert [(s.label, s.full_text) for s in subs][:2] == [
        ("1", "Wound healing in a diabetic foot. Before treatment."),
        ("2", "Wound healing in a diabetic foot. After two weeks."),
    ]
    assert split_caption("PCR of 16S rRNA genes. Note: M: Marker, 1: Alcaligenes sp.; 2: Pseudomonas fluorescens.") == []
    assert split_caption("Structures of ocimicide A1 (1) and B1 (3), derivatives A2 (2) and B2 (4), and chloroquine (5).") == []
    assert split_caption("Mice were weighed at 1. Week one and at 3. Week three.") == []  # no run 1, 2


def test_sentences_after_a_closing_label_stay_with_it_until_the_next_labels_sentence():
    """gold-v2 dev (PMC4736802): "Coronal CT scan of the leg (a) demonstrates … . It is in continuity with
    the fibula … . Axial CT scans (b and c) show …" — the middle sentence went to b and c."""
    subs = split_caption_rules(
        "Coronal CT scan of the leg (a) demonstrates that the ossification is in the membrane. It is in "
        "continuity with the fibula. Axial CT scans (b and c) show separation of the ossification."
    )
    assert [(s.label, s.full_text) for s in subs] == [
        ("a", "Coronal CT scan of the leg demonstrates that the ossification is in the membrane. "
              "It is in continuity with the fibula."),
        ("b", "Axial CT scans show separation of the ossification"),
        ("c", "Axial CT scans show separation of the ossification"),
    ]
