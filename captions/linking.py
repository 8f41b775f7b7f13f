"""Knowledge bases for scispaCy's `scispacy_linker` pipe, and a candidate generator that remembers.

scispaCy's `EntityLinker` (the ``scispacy_linker`` factory) loads its KB and index by name from
`scispacy.candidate_generation.DEFAULT_PATHS` and `DEFAULT_KNOWLEDGE_BASES`;
`register_figmine_linker` and `register_scispacy_linker` put a name there:

- ``figmine`` (the default): the offline MeSH + modality KB built by
  `captions.knowledge_base.build_knowledge_base` (cached under the KB cache folder);
- ``umls`` / ``mesh``: scispaCy's own 2023 linkers, read from the files that scispaCy's
  downloader left in its cache (``$SCISPACY_CACHE/datasets``, by default ``~/.scispacy``; the
  Docker image fetches them at build time). scispaCy itself sends a HEAD request for every cached
  file on each load; here the cached copies are found by their URL hash and registered as local
  paths, so a machine without network loads them too. The UMLS linker needs about 11 GB of memory.

`ExactFirstCandidateGenerator` wraps a `CandidateGenerator`: a mention that is exactly one of the
KB's aliases (ignoring case, as the tf-idf vectors do) gets that alias's concepts with similarity
1.0 — the answer the index gives when its approximate search finds the alias, which HNSW misses for
about 1% of aliases — and every answer is memoized, since the same mentions ("CT", "mice") recur in
thousands of captions. Only unseen, inexact mentions (abbreviation long forms, NER entities) reach
the tf-idf vectorizer and the nmslib k-NN search, in one batch per call.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections import defaultdict
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
import scispacy.candidate_generation as candidate_generation
import scispacy.linking  # noqa: F401  (registers the "scispacy_linker" factory)
from scispacy.candidate_generation import CandidateGenerator, LinkerPaths, MentionCandidate
from scispacy.linking_utils import (
    DEFAULT_UMLS_PATH,
    DEFAULT_UMLS_TYPES_PATH,
    KnowledgeBase,
    Mesh,
    UmlsKnowledgeBase,
)

from captions.concept_filters import is_acronym
from captions.knowledge_base import KnowledgeBaseFiles

__all__ = [
    "SCISPACY_LINKERS",
    "ExactFirstCandidateGenerator",
    "LinkerFilesMissing",
    "register_figmine_linker",
    "register_scispacy_linker",
    "scispacy_cached_file",
]

# scispaCy's pretrained linkers figmine can use when their files are in scispaCy's cache.
SCISPACY_LINKERS = ("umls", "mesh")


class LinkerFilesMissing(RuntimeError):
    """scispaCy's UMLS/MeSH linker files are not in its local cache (they cannot be fetched here)."""


def register_figmine_linker(files: KnowledgeBaseFiles, name: str = "figmine") -> str:
    """Make `files` loadable as ``scispacy_linker`` with ``linker_name=name``."""
    candidate_generation.DEFAULT_PATHS[name] = files.linker_paths
    candidate_generation.DEFAULT_KNOWLEDGE_BASES[name] = functools.partial(  # type: ignore[assignment]
        KnowledgeBase, str(files.jsonl)
    )
    return name


def scispacy_cached_file(url: str, cache_dir: Path) -> Path | None:
    """The copy of `url` that scispaCy's `cached_path` downloaded into `cache_dir`, if any.

    scispaCy names a cached file ``sha256(url)[.sha256(etag)].<last part of url>`` and writes a
    ``.json`` beside it; the newest match wins.
    """
    prefix = hashlib.sha256(url.encode("utf-8")).hexdigest()
    last = url.rsplit("/", 1)[-1]
    if not cache_dir.is_dir():
        return None
    found = [
        p
        for p in cache_dir.glob(f"{prefix}*")
        if p.is_file() and p.name.endswith(last) and not p.name.endswith(last + ".json")
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _scispacy_urls(name: str) -> tuple[LinkerPaths, dict[str, str]]:
    """scispaCy's remote index paths for `name` and the remote KB files its KB class reads."""
    if name == "umls":
        kb_urls = {"file_path": DEFAULT_UMLS_PATH, "types_file_path": DEFAULT_UMLS_TYPES_PATH}
    elif name == "mesh":
        kb_urls = {"file_path": inspect.signature(Mesh.__init__).parameters["file_path"].default}
    else:
        raise ValueError(f"unknown scispaCy linker {name!r}; expected one of {SCISPACY_LINKERS}")
    return _ORIGINAL_PATHS[name], kb_urls


def register_scispacy_linker(name: str, scispacy_cache: Path) -> str:
    """Register scispaCy's `name` linker ("umls" or "mesh") from local copies of its files.

    Raises `LinkerFilesMissing`, naming every missing URL, when the cache lacks any of them.
    """
    remote, kb_urls = _scispacy_urls(name)
    datasets = Path(scispacy_cache) / "datasets"
    wanted = {**remote._asdict(), **kb_urls}
    local = {field: scispacy_cached_file(url, datasets) for field, url in wanted.items()}
    missing = [wanted[f] for f, path in local.items() if path is None]
    if missing:
        raise LinkerFilesMissing(
            f"scispaCy's {name!r} linker files are not in {datasets} (missing: {', '.join(missing)}). "
            "Fetch them where there is network, e.g. at image build time: "
            f"python -c \"from scispacy.linking import EntityLinker; EntityLinker(linker_name='{name}')\" "
            "(with SCISPACY_CACHE pointing at the same folder), or use FIGMINE_LINKER=figmine (offline)."
        )
    candidate_generation.DEFAULT_PATHS[name] = LinkerPaths(**{f: str(local[f]) for f in LinkerPaths._fields})
    kb_class = UmlsKnowledgeBase if name == "umls" else Mesh
    candidate_generation.DEFAULT_KNOWLEDGE_BASES[name] = functools.partial(  # type: ignore[assignment]
        kb_class, **{f: str(local[f]) for f in kb_urls}
    )
    return name


def _has_acronym(alias: str) -> bool:
    return any(is_acronym(word) for word in alias.split())


# scispaCy's own remote paths, kept before any registration replaces them with local ones.
_ORIGINAL_PATHS = {name: candidate_generation.DEFAULT_PATHS[name] for name in SCISPACY_LINKERS}


class ExactFirstCandidateGenerator(CandidateGenerator):
    """A `CandidateGenerator` that answers exact alias matches from the KB and memoizes answers."""

    def __init__(self, base: CandidateGenerator, *, max_cached: int = 200_000) -> None:
        super().__init__(
            ann_index=base.ann_index,
            tfidf_vectorizer=base.vectorizer,
            ann_concept_aliases_list=base.ann_concept_aliases_list,
            kb=base.kb,
            verbose=base.verbose,
        )
        self.max_cached = max_cached
        self._cache: dict[tuple[str, int], list[MentionCandidate]] = {}
        by_fold: dict[str, list[str]] = defaultdict(list)
        for alias in self.kb.alias_to_cuis:
            by_fold[alias.casefold()].append(alias)
        self._aliases_by_fold = dict(by_fold)
        self.knn_queries = 0  # mentions that went to the k-NN index (for benchmarks)

    def _exact(self, text: str) -> list[MentionCandidate] | None:
        # An acronym alias stands only for itself: "fish" is not "FISH" (the vocabulary matcher's rule).
        aliases = [
            a for a in self._aliases_by_fold.get(text.casefold(), ()) if a == text or not _has_acronym(a)
        ]
        if not aliases:
            return None
        concept_aliases: dict[str, list[str]] = defaultdict(list)
        for alias in aliases:
            for concept_id in self.kb.alias_to_cuis[alias]:
                concept_aliases[concept_id].append(alias)
        return [
            MentionCandidate(concept_id, names, [1.0] * len(names))
            for concept_id, names in sorted(concept_aliases.items())
        ]

    def __call__(self, mention_texts: list[str], k: int) -> list[list[MentionCandidate]]:
        results: list[list[MentionCandidate] | None] = []
        todo: dict[str, None] = {}
        for text in mention_texts:
            hit = self._cache.get((text, k))
            if hit is None:
                hit = self._exact(text)
                if hit is not None:
                    self._remember(text, k, hit)
            if hit is None:
                todo[text] = None
            results.append(hit)
        if todo:
            texts = list(todo)
            self.knn_queries += len(texts)
            for text, candidates in zip(texts, super().__call__(texts, k)):
                self._remember(text, k, candidates)
            results = [r if r is not None else self._cache[(t, k)] for r, t in zip(results, mention_texts)]
        return results  # type: ignore[return-value]

    def prefetch(self, mention_texts: list[str], k: int) -> None:
        """Look up many mentions in one batch (one vectorizer call, one k-NN batch)."""
        self(mention_texts, k)

    def _remember(self, text: str, k: int, candidates: list[MentionCandidate]) -> None:
        if len(self._cache) >= self.max_cached:
            self._cache.clear()
        self._cache[(text, k)] = candidates
