"""Choosing the model and the linker by configuration (FIGMINE_NLP_MODEL, FIGMINE_LINKER, ...).

scispaCy's en_core_sci_* models and its UMLS/MeSH linker files cannot be fetched here, so the full
mode is exercised with stand-ins laid out exactly where the real ones go: a tiny "UMLS" KB and index
in scispaCy's download cache (named by URL hash, as its downloader names them), and a spaCy model
directory with its own NER (an entity ruler), loaded by path as en_core_sci_sm would be by name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import captions.linking as linking
from captions.concepts import ConceptTagger
from captions.knowledge_base import build_knowledge_base_from
from captions.linking import LinkerFilesMissing
from captions.nlp import NlpConfig, build_pipeline, load_language
from scispacy.candidate_generation import LinkerPaths
from scispacy.linking_utils import DEFAULT_UMLS_PATH, DEFAULT_UMLS_TYPES_PATH, Entity

# The offline vocabulary the matcher looks for (a small stand-in for the MeSH + modality KB).
VOCAB = [
    Entity("D014057", "Tomography, X-Ray Computed", ["X-Ray Computed Tomography", "CT", "computed tomography"]),
    Entity("D008099", "Liver", []),
]
# scispaCy's UMLS KB stand-in: CUIs with semantic types and definitions.
UMLS = [
    Entity("C0040405", "X-Ray Computed Tomography", ["CT", "computed tomography"], ["T060"], "Imaging by X-rays."),
    Entity("C0023884", "Liver", ["liver", "hepar"], ["T023"], "A large organ."),
    Entity("C0027651", "Neoplasms", ["tumor", "neoplasm", "tumour"], ["T191"], "New abnormal tissue growth."),
]
UMLS_TYPES = "Entity\tT071\t0\n  Diagnostic Procedure\tT060\t1\n  Body Part\tT023\t1\n  Neoplastic Process\tT191\t1\n"


@pytest.fixture
def scispacy_registry(monkeypatch):
    """Restore scispaCy's registry of linkers after the test."""
    import scispacy.candidate_generation as cg

    monkeypatch.setattr(cg, "DEFAULT_PATHS", dict(cg.DEFAULT_PATHS))
    monkeypatch.setattr(cg, "DEFAULT_KNOWLEDGE_BASES", dict(cg.DEFAULT_KNOWLEDGE_BASES))
    return cg


def fake_scispacy_cache(cache: Path, name: str, entities: list[Entity], build: Path) -> None:
    """A KB and index for `entities`, put where scispaCy's downloader puts the `name` linker's files."""
    source = build_knowledge_base_from(entities, build, name).directory
    files = {
        url: getattr(LinkerPaths.from_directory(source), field)
        for field, url in linking._ORIGINAL_PATHS[name]._asdict().items()
    }
    if name == "umls":
        (source / "types.tsv").write_text(UMLS_TYPES)
        files[DEFAULT_UMLS_PATH] = source / "kb.jsonl"
        files[DEFAULT_UMLS_TYPES_PATH] = source / "types.tsv"
    else:
        files[linking._scispacy_urls("mesh")[1]["file_path"]] = source / "kb.jsonl"
    datasets = cache / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    for url, path in files.items():
        stem = hashlib.sha256(url.encode()).hexdigest() + "." + hashlib.sha256(b'"etag"').hexdigest()
        target = datasets / f"{stem}.{url.rsplit('/', 1)[-1]}"
        shutil.copy(path, target)
        (datasets / (target.name + ".json")).write_text(json.dumps({"url": url, "etag": '"etag"'}))


def test_defaults_are_the_offline_pipeline():
    config = NlpConfig.from_env({})
    assert (config.model, config.linker, config.threshold) == ("blank", "figmine", 0.85)
    assert config.kb_dir == Path(".figmine/kb") and config.offline


def test_environment_selects_model_linker_and_cache():
    config = NlpConfig.from_env({
        "FIGMINE_NLP_MODEL": "en_core_sci_md", "FIGMINE_LINKER": "UMLS", "FIGMINE_HOME": "/data/fm",
        "FIGMINE_CONCEPT_THRESHOLD": "0.9", "SCISPACY_CACHE": "/opt/scispacy",
    })
    assert (config.model, config.linker, config.threshold) == ("en_core_sci_md", "umls", 0.9)
    assert config.kb_dir == Path("/data/fm/kb") and config.scispacy_cache == Path("/opt/scispacy")
    assert not config.offline
    assert NlpConfig.from_env({"FIGMINE_HOME": "/data/fm", "FIGMINE_KB_DIR": "/cache/kb"}).kb_dir == Path("/cache/kb")


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="FIGMINE_LINKER='wikidata'"):
        NlpConfig.from_env({"FIGMINE_LINKER": "wikidata"})
    with pytest.raises(ValueError, match="FIGMINE_CONCEPT_THRESHOLD"):
        NlpConfig.from_env({"FIGMINE_CONCEPT_THRESHOLD": "1.5"})


def test_a_model_that_is_not_installed_is_a_clear_error():
    pytest.importorskip("spacy")
    try:
        import en_core_sci_sm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("en_core_sci_sm is installed here")
    with pytest.raises(RuntimeError, match="FIGMINE_NLP_MODEL='en_core_sci_sm' cannot be loaded"):
        load_language("en_core_sci_sm")
    assert load_language("blank").pipe_names == []


def test_umls_without_its_files_fails_before_loading_anything(tmp_path, scispacy_registry):
    config = NlpConfig(linker="umls", model="en_core_sci_sm", scispacy_cache=tmp_path / "none")
    with pytest.raises(LinkerFilesMissing, match="umls"):
        build_pipeline(config, kb=build_knowledge_base_from(VOCAB, tmp_path, "vocab"))


def test_umls_linker_gives_cuis_with_semantic_types(tmp_path, scispacy_registry):
    fake_scispacy_cache(tmp_path / "scispacy", "umls", UMLS, tmp_path / "build")
    config = NlpConfig(linker="umls", scispacy_cache=tmp_path / "scispacy")
    nlp = build_pipeline(config, kb=build_knowledge_base_from(VOCAB, tmp_path, "vocab"))
    tagger = ConceptTagger(config, nlp=nlp)
    (mentions,) = tagger.tag(["Computed tomography (CT) of the liver; CT of the liver."])
    assert {(m.text, m.vocab, m.code, m.semantic_types) for m in mentions} == {
        ("Computed tomography", "UMLS", "C0040405", ("T060",)),
        ("CT", "UMLS", "C0040405", ("T060",)),
        ("liver", "UMLS", "C0023884", ("T023",)),
    }
    assert sum(m.text == "CT" for m in mentions) == 2
    assert tagger.kb.semantic_type_tree.get_canonical_name("T060") == "Diagnostic Procedure"


def test_scispacy_mesh_linker_gives_mesh_ids(tmp_path, scispacy_registry):
    mesh = [Entity("D008099", "Liver", ["liver"], [], "An organ.")]
    fake_scispacy_cache(tmp_path / "scispacy", "mesh", mesh, tmp_path / "build")
    config = NlpConfig(linker="mesh", scispacy_cache=tmp_path / "scispacy")
    tagger = ConceptTagger(config, nlp=build_pipeline(config, kb=build_knowledge_base_from(VOCAB, tmp_path, "vocab")))
    assert [(m.vocab, m.code) for m in tagger.tag(["the liver"])[0]] == [("MSH", "D008099")]


def test_a_model_with_ner_adds_its_entities_as_candidates(tmp_path, scispacy_registry):
    """A model directory, loaded by path as FIGMINE_NLP_MODEL=en_core_sci_sm is by name: its NER
    (here an entity ruler) proposes spans the vocabulary does not know; they are linked too, except
    where they overlap a vocabulary match."""
    import spacy

    model = spacy.blank("en")
    ruler = model.add_pipe("entity_ruler")
    ruler.add_patterns([
        {"label": "ENTITY", "pattern": "tumour"},
        {"label": "ENTITY", "pattern": [{"LOWER": "liver"}, {"LOWER": "tissue"}]},
        {"label": "ENTITY", "pattern": "cells"},
    ])
    model.to_disk(tmp_path / "model")
    fake_scispacy_cache(tmp_path / "scispacy", "umls", UMLS, tmp_path / "build")
    config = NlpConfig(model=str(tmp_path / "model"), linker="umls", scispacy_cache=tmp_path / "scispacy")
    nlp = build_pipeline(config, kb=build_knowledge_base_from(VOCAB, tmp_path, "vocab"))
    assert nlp.pipe_names[:2] == ["entity_ruler", "figmine_abbreviation_detector"]
    (mentions,) = ConceptTagger(config, nlp=nlp).tag(["A tumour in CT; liver tissue; cells."])
    assert {(m.text, m.code) for m in mentions} == {
        ("tumour", "C0027651"),  # from the model's NER only
        ("CT", "C0040405"),
        # the vocabulary's "liver" wins over the model's longer "liver tissue" (overlap), and the
        # model's generic "cells" is never linked
        ("liver", "C0023884"),
    }


def test_a_kb_built_for_one_home_is_shared_with_the_next(tmp_path, monkeypatch):
    """Every FIGMINE_HOME (each test, each worker's home) would build the 30-50 s KB again; the
    per-user shared cache hands it over instead, hard-linked, and only when every input is the same."""
    import captions.tfidf_index as tfidf_index
    from captions.knowledge_base import VOCAB_DIR, build_knowledge_base

    vocab = tmp_path / "vocab"
    shutil.copytree(VOCAB_DIR, vocab)
    (vocab / "mesh_aliases.csv").write_text("mesh_name,alias\n")
    mesh = tmp_path / "mesh.csv"
    mesh.write_text('id,scheme,subject\nhttps://id.nlm.nih.gov/mesh/D006528,MeSH,"Carcinoma, Hepatocellular"\n')
    monkeypatch.setenv("FIGMINE_KB_SHARED_CACHE", str(tmp_path / "shared"))

    first = build_knowledge_base(tmp_path / "home1" / "kb", mesh_csv=mesh, vocab_dir=vocab)
    shared = tmp_path / "shared" / first.directory.name
    assert first.is_complete() and (shared / "nmslib_index.bin").is_file(), "a built KB goes to the shared cache"

    def no_build(*_, **__):
        raise AssertionError("the KB was built again")

    monkeypatch.setattr(tfidf_index, "build_tfidf_ann_index", no_build)
    second = build_knowledge_base(tmp_path / "home2" / "kb", mesh_csv=mesh, vocab_dir=vocab)
    assert second.is_complete() and second.key == first.key
    assert (second.directory / "kb.jsonl").stat().st_ino == (shared / "kb.jsonl").stat().st_ino, "hard-linked"
    assert not list((tmp_path / "home2" / "kb").glob("*.tmp-*"))

    other = tmp_path / "other.csv"  # other inputs: not the shared KB
    other.write_text(mesh.read_text() + "https://id.nlm.nih.gov/mesh/D008099,MeSH,Liver\n")
    with pytest.raises(AssertionError, match="built again"):
        build_knowledge_base(tmp_path / "home3" / "kb", mesh_csv=other, vocab_dir=vocab)
    monkeypatch.setenv("FIGMINE_KB_SHARED_CACHE", "")  # sharing off: a new home builds its own
    with pytest.raises(AssertionError, match="built again"):
        build_knowledge_base(tmp_path / "home4" / "kb", mesh_csv=mesh, vocab_dir=vocab)
