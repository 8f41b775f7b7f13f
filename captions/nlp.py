"""The spaCy pipeline that tags concepts, and the configuration that chooses its model and linker.

    tokenizer (or a scispaCy model: tok2vec, tagger, parser, NER)
    → figmine_abbreviation_detector  scispaCy's abbreviation_detector (Schwartz & Hearst, 2003),
                                     its parenthesis search bounded (`captions.abbreviations`)
    → figmine_vocabulary_matcher  candidate spans: vocabulary aliases, abbreviations, model NER
    → scispacy_linker             scispaCy's EntityLinker over the configured knowledge base

Configuration (environment variables, read by `NlpConfig.from_env`):

- ``FIGMINE_NLP_MODEL``: ``blank`` (default: `spacy.blank("en")`, no model files) or a spaCy model
  package or path, e.g. ``en_core_sci_sm`` / ``en_core_sci_md`` (its NER adds candidates);
- ``FIGMINE_LINKER``: ``figmine`` (default: offline MeSH + modality KB, built and cached locally),
  ``umls`` or ``mesh`` (scispaCy's linkers, from the files its downloader cached; UMLS gives CUIs
  with semantic types and needs about 11 GB of memory);
- ``FIGMINE_KB_DIR``: where the offline KB and its index are cached (default ``$FIGMINE_HOME/kb``);
- ``FIGMINE_KB_SHARED_CACHE``: the per-user copy that a new KB folder is linked from instead of
  building it again (default ``$XDG_CACHE_HOME/figmine/kb`` or ``~/.cache/figmine/kb``; empty: none);
- ``FIGMINE_CONCEPT_THRESHOLD``: the linker's similarity threshold (default 0.85);
- ``SCISPACY_CACHE``: scispaCy's own cache folder (default ``~/.scispacy``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
import spacy
from spacy.language import Language

import scispacy.linking  # noqa: F401  (registers the "scispacy_linker" factory)

import captions.abbreviations  # noqa: F401  (registers "figmine_abbreviation_detector")
import captions.vocabulary_matcher  # noqa: F401  (registers "figmine_vocabulary_matcher")
from captions.knowledge_base import KB_NAME, KnowledgeBaseFiles, build_knowledge_base
from captions.linking import (
    SCISPACY_LINKERS,
    ExactFirstCandidateGenerator,
    register_figmine_linker,
    register_scispacy_linker,
)

__all__ = ["LINKERS", "NlpConfig", "build_pipeline"]

LINKERS = (KB_NAME, *SCISPACY_LINKERS)
BLANK = "blank"


@dataclass(frozen=True)
class NlpConfig:
    """What `build_pipeline` builds; `from_env` reads it from the environment."""

    model: str = BLANK
    linker: str = KB_NAME
    kb_dir: Path = field(default_factory=lambda: Path(".figmine") / "kb")
    threshold: float = 0.85
    scispacy_cache: Path = field(default_factory=lambda: Path.home() / ".scispacy")
    k: int = 30  # nearest neighbours looked up per inexact mention (scispaCy's default)

    def __post_init__(self) -> None:
        if self.linker not in LINKERS:
            raise ValueError(f"FIGMINE_LINKER={self.linker!r} is not one of {', '.join(LINKERS)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"FIGMINE_CONCEPT_THRESHOLD={self.threshold} is not between 0 and 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NlpConfig:
        env = os.environ if environ is None else environ
        home = Path(env.get("FIGMINE_HOME") or ".figmine").expanduser()
        return cls(
            model=(env.get("FIGMINE_NLP_MODEL") or BLANK).strip(),
            linker=(env.get("FIGMINE_LINKER") or KB_NAME).strip().lower(),
            kb_dir=Path(env.get("FIGMINE_KB_DIR") or home / "kb").expanduser(),
            threshold=float(env.get("FIGMINE_CONCEPT_THRESHOLD") or 0.85),
            scispacy_cache=Path(env.get("SCISPACY_CACHE") or Path.home() / ".scispacy").expanduser(),
        )

    @property
    def offline(self) -> bool:
        """True when neither model files nor scispaCy's linker files are needed."""
        return self.model == BLANK and self.linker == KB_NAME


def load_language(model: str) -> Language:
    """`spacy.blank("en")` for "blank", else the named spaCy model (package name or path)."""
    if model == BLANK:
        return spacy.blank("en")
    try:
        # The lemmatizer is not used and costs time on every token.
        return spacy.load(model, exclude=["lemmatizer"])
    except OSError as exc:
        raise RuntimeError(
            f"FIGMINE_NLP_MODEL={model!r} cannot be loaded ({exc}); install the model package "
            "(en_core_sci_sm / en_core_sci_md are fetched by the Docker image) or unset the variable"
        ) from exc


def build_pipeline(config: NlpConfig, *, kb: KnowledgeBaseFiles | None = None) -> Language:
    """The configured pipeline, ready for `nlp.pipe`. `kb` replaces the offline KB (tests)."""
    kb = kb or build_knowledge_base(config.kb_dir)
    if config.linker == KB_NAME:
        linker_name = register_figmine_linker(kb, name=f"{KB_NAME}-{kb.key[:16]}")
    else:
        linker_name = register_scispacy_linker(config.linker, config.scispacy_cache)

    nlp = load_language(config.model)
    nlp.add_pipe("figmine_abbreviation_detector")
    nlp.add_pipe("figmine_vocabulary_matcher", config={"kb_jsonl": str(kb.jsonl)})
    nlp.add_pipe(
        "scispacy_linker",
        config={
            "linker_name": linker_name,
            "resolve_abbreviations": True,
            "k": config.k,
            "threshold": config.threshold,
            # figmine's KB has no definitions; scispaCy's UMLS/MeSH KBs do, and its default
            # (entities without one need a 0.95 match) keeps their linking precise.
            "filter_for_definitions": config.linker != KB_NAME,
            "max_entities_per_mention": 5,
        },
    )
    linker = nlp.get_pipe("scispacy_linker")
    linker.candidate_generator = ExactFirstCandidateGenerator(linker.candidate_generator)
    return nlp
