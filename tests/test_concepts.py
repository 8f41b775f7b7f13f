"""Concept tagging of captions and citances with the offline pipeline (blank spaCy, scispaCy's
abbreviation detector and linker, figmine's MeSH + modality KB), on real captions of the JATS
fixtures and on hand-written cases of each rule."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from captions.concepts import MAX_TEXT_CHARS, ConceptTagger, Mention, strip_markup
from captions.nlp import NlpConfig
from harvester.jats import parse_jats

REPO = Path(__file__).resolve().parent.parent
NXML = REPO / "tests/fixtures/nxml"


@pytest.fixture(scope="session")
def tagger(request, tmp_path_factory) -> ConceptTagger:
    """The offline tagger; its KB index is cached in pytest's cache folder (built on the first run)."""
    try:
        kb_dir = Path(request.config.cache.mkdir("figmine-kb"))
    except AttributeError:  # cacheprovider disabled
        kb_dir = tmp_path_factory.mktemp("figmine-kb")
    return ConceptTagger(NlpConfig(kb_dir=kb_dir))


def caption(relpath: str, jats_id: str) -> str:
    for article in parse_jats((NXML / relpath).read_bytes()):
        for figure in article.figures:
            if figure.jats_id == jats_id:
                return figure.caption_text
    raise LookupError(f"{relpath} has no figure {jats_id}")


def found(mentions: list[Mention]) -> set[tuple[str, str]]:
    return {(m.text, m.code) for m in mentions}


def assert_spans_index_the_text(text: str, mentions: list[Mention]) -> None:
    for m in mentions:
        assert text[m.start : m.end] == m.text, f"span {m.start}:{m.end} of {m} does not index the text"


# --- real captions ---------------------------------------------------------------------------------


def test_histology_caption(tagger):
    text = caption("europepmc/PMC13238370.xml", "ahe70140-fig-0002")
    mentions = tagger.tag([text])[0]
    assert_spans_index_the_text(text, mentions)
    assert {
        ("Photomicrograph", "C0031753"),  # modality vocabulary (UMLS)
        ("smooth muscle", "D009130"),  # longest match: not "muscle"
        ("stomach", "D013270"),
        ("duodenum", "D004386"),
    } <= found(mentions)
    photo = next(m for m in mentions if m.code == "C0031753")
    assert (photo.vocab, photo.name, photo.score) == ("UMLS", "Photomicrography", 1.0)
    assert not any(m.text == "muscle" and m.start == photo.start for m in mentions)
    # "(M)", "(LM)", "HE.", "10×", "magnification" are not concepts
    assert not {m.text for m in mentions} & {"M", "LM", "CM", "HE", "magnification"}


def test_micro_ct_caption_links_ct_to_mesh_and_umls(tagger):
    text = caption("plos/journal.pone.0005723.xml", "pone-0005723-g004")
    mentions = tagger.tag([text])[0]
    assert_spans_index_the_text(text, mentions)
    assert {("Micro-CT", "C0040405"), ("CT image", "C0040405"), ("skull", "D012886")} <= found(mentions)
    ct = next(m for m in mentions if m.text == "CT image")
    assert ct.semantic_types == ("T060",) and ct.name == "X-Ray Computed Tomography"


def test_abbreviation_defined_in_the_caption_is_linked_through_its_long_form(tagger):
    text = caption("elife/elife00013.xml", "fig3s1")  # "... by thin layer chromatography (TLC) ... by TLC"
    mentions = tagger.tag([text])[0]
    tlc = [m for m in mentions if m.text == "TLC"]
    assert len(tlc) == 2, "both the definition and the later use of TLC are linked"
    assert {(m.vocab, m.code) for m in tlc} == {("MSH", "D002855")}
    assert ("thin layer chromatography", "D002855") in found(mentions)


def test_citances_of_a_real_article(tagger):
    citances = [c.text for a in parse_jats((NXML / "plos/journal.pone.0114370.xml").read_bytes()) for c in a.citances]
    results = tagger.tag(citances)
    assert len(results) == len(citances)
    for text, mentions in zip(citances, results):
        assert_spans_index_the_text(text, mentions)
    assert any(m.code == "D005910" for r in results for m in r), "glioma is mentioned in the citances"


# --- the rules ---------------------------------------------------------------------------------------


def test_abbreviations_expand_by_definition_else_by_vocabulary(tagger):
    defined, undefined, other_meaning = tagger.tag([
        "Retinal thickness by optical coherence tomography (OCT). OCT of the macula.",
        "OCT and CT of the macula; H&E staining of the retina.",
        "Cycle threshold (Ct) values and octamer-binding protein (OCTP) are shown.",
    ])
    assert {("OCT", "C0920367"), ("OCT", "D041623")} <= found(defined)
    assert sum(m.text == "OCT" for m in defined) == 4  # two uses × (UMLS, MeSH)
    assert {("OCT", "C0920367"), ("CT", "C0040405"), ("CT", "D014057"), ("H&E staining", "C0523207")} <= found(undefined)
    assert not any(m.text == "Ct" for m in other_meaning)
    # "OCTP" is no OCT: with MeSH entry terms it may link to what it stands for (an octamer factor)
    assert not any(m.text == "OCTP" and m.code in ("C0920367", "D041623") for m in other_meaning)


def test_long_form_not_in_the_vocabulary_is_linked_by_similarity(tagger):
    (mentions,) = tagger.tag(["Myeloid-derived suppressor cells (MDSCs) were sorted; MDSCs expand in tumors."])
    mdscs = [m for m in mentions if m.text == "MDSCs"]
    assert mdscs and {m.code for m in mdscs} == {"D000072737"}
    assert all(0.85 < m.score <= 1.0 for m in mdscs)


def test_acronyms_keep_their_case(tagger):
    (mentions,) = tagger.tag(["Let us ct the pet. The US team used PET and CT; fish and FISH."])
    assert {m.text for m in mentions} == {"PET", "CT", "fish", "FISH"}
    assert {m.code for m in mentions if m.text == "fish"} == {"D005399"}  # Fishes
    assert {m.code for m in mentions if m.text == "FISH"} == {"D017404"}  # In Situ Hybridization, Fluorescence


def test_an_acronym_that_spells_a_stop_word_is_still_an_acronym(tagger):
    (mentions,) = tagger.tag(["GO enrichment of the DEGs; cells go on to divide. Go to panel B."])
    assert {m.text for m in mentions if m.code == "D063990"} == {"GO"}  # Gene Ontology
    assert not any(m.text.casefold() == "go" and m.text != "GO" for m in mentions)


def test_no_stopwords_units_numbers_panel_labels_or_generic_words(tagger):
    (mentions,) = tagger.tag([
        "(A) Cells were imaged at 24 h and 37 °C; scale bars, 50 µm (B, C). Data are mean ± SD of "
        "3 patients (n = 5 mice per group) in Figure 2, panel D; see the time course in the graph."
    ])
    assert found(mentions) == {("mice", "D051379")}


def test_longest_match_wins(tagger):
    (mentions,) = tagger.tag(["Hepatocellular carcinoma in C57BL/6 mice; Renilla luciferase activity."])
    assert {("Hepatocellular carcinoma", "D006528"), ("C57BL/6 mice", "D008810"), ("Renilla luciferase", "D049410")} == found(mentions)


def test_one_concept_per_span_and_vocabulary(tagger):
    (mentions,) = tagger.tag(["Western blot of hepatocytes; computed tomography of the chest."])
    per_span: dict[tuple[int, int], list[str]] = {}
    for m in mentions:
        per_span.setdefault((m.start, m.end), []).append(m.vocab)
    assert all(len(v) == len(set(v)) for v in per_span.values())
    assert {("Western blot", "D015153"), ("Western blot", "C0020985"), ("hepatocytes", "D022781")} <= found(mentions)


# --- bad input -----------------------------------------------------------------------------------------


def test_bad_inputs_give_a_result_for_every_text(tagger):
    huge = ("Computed tomography (CT) of hepatocellular carcinoma in mice. " * 2000)[:100_000]
    markup = '<italic>CT</italic> of the <bold>liver</bold> <xref ref-type="fig" rid="f1">1A</xref>; <i>computed</i> tomography'
    texts = [
        None, "", "   \n", huge, markup,
        "Tomografía computarizada del carcinoma hepatocelular en ratones. 肝细胞癌的CT图像。",
        "(" * 5000 + "CT" + ")" * 5000,  # pathological brackets: spaCy's tokenizer is quadratic on them
        "\x00\x01\ufffd" * 1000,
        "x" * 300_000,
    ]
    results = tagger.tag(texts)
    assert len(results) == len(texts)
    assert results[0] == results[1] == results[2] == []
    for text, mentions in zip(texts, results):
        if text:
            assert_spans_index_the_text(text, mentions)
    assert sum(m.code == "D006528" for m in results[3]) >= 1000
    assert {("CT", "C0040405"), ("liver", "D008099"), ("computed</i> tomography", "C0040405")} <= found(results[4])
    # the Spanish "carcinoma" is the English word; "CT" inside unspaced Chinese is not a token
    assert found(results[5]) == {("carcinoma", "D002277")}


def test_markup_is_removed_and_positions_map_back():
    text = "<italic>CT</italic> and <sup>18</sup>F-FDG<break/>PET"
    plain, where = strip_markup(text)
    assert plain == "CT and 18F-FDG PET"
    assert len(where) == len(plain) + 1
    assert all(text[where[i]] == c for i, c in enumerate(plain) if c != " ")
    assert text[where[0] : where[1] + 1] == "CT" and text[where[15] : where[17] + 1] == "PET"
    assert strip_markup("no tags") == ("no tags", None)
    comparison = "CT (p < 0.05, n > 3) and x<y and z>w"
    assert strip_markup(comparison)[0] == comparison, "comparisons are not tags"


def test_only_the_first_max_text_chars_are_tagged(tagger):
    text = "x " * (MAX_TEXT_CHARS // 2) + "computed tomography"
    assert tagger.tag([text]) == [[]]


def test_non_string_input_is_a_clear_error(tagger):
    with pytest.raises(TypeError, match="item 1 is bytes"):
        tagger.tag(["CT", b"CT"])


def test_a_failing_text_does_not_lose_the_batch(tagger, monkeypatch, caplog):
    original = tagger._mentions

    def fragile(doc):
        if "explode" in doc.text:
            raise RuntimeError("boom")
        return original(doc)

    monkeypatch.setattr(tagger, "_mentions", fragile)
    with caplog.at_level(logging.ERROR, logger="captions.concepts"):
        results = tagger.tag(["CT of the liver", "explode", "MRI of the brain"])
    assert [bool(r) for r in results] == [True, False, True]
    assert "concept tagging failed" in caplog.text


def test_the_tagger_process_does_not_load_torch():
    code = "import sys, captions.concepts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "spaCy's thinc imported torch (≈ 500 MB) into the tagger"


def test_synonyms_word_forms_and_spellings_of_captions(tagger):
    (mentions,) = tagger.tag([
        "T cells and NK cells infiltrate the spleens of larvae; interferon-γ and NF-κB signaling in "
        "SARS‐CoV‐2 infection (U+2010 hyphens)."
    ])
    found = {(m.text, m.name) for m in mentions if m.vocab == "MSH"}
    assert {("T cells", "T-Lymphocytes"), ("NK cells", "Killer Cells, Natural"), ("spleens", "Spleen"),
            ("larvae", "Larva"), ("interferon-γ", "Interferon-gamma"), ("NF-κB", "NF-kappa B"),
            ("SARS‐CoV‐2 infection", "COVID-19")} <= found  # a MeSH entry term of COVID-19


def test_capitalised_software_names_and_plural_generic_words_are_not_linked(tagger):
    (mentions,) = tagger.tag(["Sequences were aligned with MUSCLE. This leads to three times more roles."])
    assert not {m.text for m in mentions} & {"MUSCLE", "leads", "times", "roles"}


def test_modality_concepts_come_with_their_mesh_descriptor(tagger):
    """A modality phrase linked to its UMLS concept ("CT image") also names the MeSH descriptor users
    search by (issue 14: the hand-listed concepts of new captions name MeSH)."""
    (mentions,) = tagger.tag(["Axial CT image of the chest and H&E staining of the biopsy."])
    found = {(m.text, m.vocab, m.code) for m in mentions}
    assert {("CT image", "UMLS", "C0040405"), ("CT image", "MSH", "D014057")} <= found


def test_every_modality_mesh_twin_names_a_descriptor_of_the_kb():
    import csv

    from captions.knowledge_base import VOCAB_DIR, mesh_csv_path

    names = {r["id"].rsplit("/", 1)[-1]: r["subject"].strip() for r in csv.DictReader(open(mesh_csv_path()))}
    cuis = {r["cui"] for r in csv.DictReader(open(VOCAB_DIR / "modality_cuis.csv")) if r["cui"]}
    for row in csv.DictReader(open(VOCAB_DIR / "modality_mesh.csv")):
        assert names.get(row["mesh_id"]) == row["mesh_name"], row
        assert row["cui"] in cuis, row


def test_organ_adjectives_abbreviations_crops_and_drug_salts(tagger):
    """Issue 14 (session 7): what the hand-listed dev captions named that the KB missed — an organ by
    its adjective, a cytokine or immunoglobulin by its abbreviation, a crop by its common name, a drug
    whose heading is its salt, a plural of a -y noun."""
    (mentions,) = tagger.tag([
        "Hepatic and renal sections; IgG and IFN-γ in serum; leaves of wheat and maize; "
        "erlotinib-treated cells; biopsies of ovaries; genes upregulated after chemotherapy."
    ])
    found = {(m.text, m.name) for m in mentions if m.vocab == "MSH"}
    assert {("Hepatic", "Liver"), ("renal", "Kidney"), ("IgG", "Immunoglobulin G"),
            ("IFN-γ", "Interferon-gamma"), ("leaves", "Plant Leaves"), ("wheat", "Triticum"),
            ("maize", "Zea mays"), ("erlotinib", "Erlotinib Hydrochloride"), ("biopsies", "Biopsy"),
            ("ovaries", "Ovary"), ("upregulated", "Up-Regulation"), ("chemotherapy", "Drug Therapy")} <= found
    # the longer name still wins over the organ adjective
    (mentions,) = tagger.tag(["A pancreatic tumour."])
    assert [(m.text, m.name) for m in mentions if m.vocab == "MSH"] == [("pancreatic tumour", "Pancreatic Neoplasms")]
