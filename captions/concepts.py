"""Concept tagging of captions, subcaptions and citances: text → linked concept mentions.

``tag(texts)`` returns, for each text, its `Mention`s — the concept's vocabulary ("MSH" for MeSH
descriptors, "UMLS" for CUIs), id, name, semantic types (UMLS TUIs, where known), the similarity
score of the link and the character span in the text as given. It runs the spaCy pipeline of
`captions.nlp` (scispaCy's abbreviation detector, the vocabulary matcher, scispaCy's entity linker)
over the texts with `nlp.pipe`, and gathers the linker's look-ups of a whole batch into one k-NN
query.

What is linked, and how (details in `captions.vocabulary_matcher` and `captions.concept_filters`):

- vocabulary aliases found in the text, longest first; abbreviations defined in the text are
  linked through their long form ("optical coherence tomography (OCT)"); undefined ones through
  the vocabulary's synonyms ("CT", "H&E");
- never stop words, single letters, panel labels, numbers, units or generic words ("cells",
  "patients"), and only links whose score passes the threshold (`FIGMINE_CONCEPT_THRESHOLD`);
- one mention per span and vocabulary: the best-scoring concept (ties: the concept with a name or
  alias equal to the text as written, then up to case, then the lowest id), so a span may carry a
  MeSH descriptor and a UMLS CUI.

Bad input never fails the batch: ``None`` and empty texts give no mentions, XML/HTML tags are
removed before tagging (spans are mapped back, so they index the text as given), "words" over
`MAX_WORD_CHARS` characters are blanked, texts over `MAX_TEXT_CHARS`
are tagged on their first `MAX_TEXT_CHARS` characters, long texts are tagged in pieces of about
`CHUNK_CHARS`, and a text that still makes the pipeline raise is logged and given no mentions.
A non-string item raises `TypeError` before any work is done.
"""

from __future__ import annotations

import csv
import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
from spacy.language import Language
from spacy.tokens import Doc, Span

from captions.knowledge_base import VOCAB_DIR, vocabulary_of
from captions.nlp import NlpConfig, build_pipeline

__all__ = ["CHUNK_CHARS", "MAX_TEXT_CHARS", "ConceptTagger", "Mention", "get_tagger", "tag"]

log = logging.getLogger(__name__)

# Only the first MAX_TEXT_CHARS characters of a text are tagged (real captions stay under ~10 kB).
MAX_TEXT_CHARS = 200_000
# Texts are tagged in pieces of at most about this size, cut at a sentence end or a space.
CHUNK_CHARS = 10_000
BATCH_SIZE = 256

# A start, end or empty tag with quoted attributes: "p < 0.05 and n > 3" is not markup.
_MARKUP_RE = re.compile(
    r"""<(/?)([A-Za-z][\w:.-]{0,40})((?:\s+[\w:.-]+\s*=\s*(?:"[^"<>]{0,500}"|'[^'<>]{0,500}'))*)\s*/?>"""
)
# Tags inside a word or phrase ("CD4<sup>+</sup>", "<italic>computed</italic> tomography") are
# dropped; any other tag (<break/>, <p>, <title>...) stands for a space.
INLINE_TAGS = frozenset(
    """italic bold i b em strong sup sub sc u underline overline monospace roman sans-serif span
    named-content styled-content inline-formula xref ext-link uri email abbrev""".split()
)
# spaCy's tokenizer strips affixes from a long token in quadratic time (a 10 kB run of brackets
# takes minutes); no concept name is a single "word" this long, so such runs are blanked.
MAX_WORD_CHARS = 200
_LONG_WORD_RE = re.compile(r"\S{%d,}" % (MAX_WORD_CHARS + 1))


@dataclass(frozen=True, slots=True)
class Mention:
    """A concept found in a text: ``text == source[start:end]``."""

    vocab: str  # "MSH" | "UMLS" | "FIGMINE"
    code: str  # D006528, C0040405, ...
    name: str  # the concept's canonical name in its vocabulary
    semantic_types: tuple[str, ...]  # UMLS TUIs ("T060"), () where the KB has none
    start: int
    end: int
    text: str
    score: float  # tf-idf cosine similarity of the (expanded) mention to the concept's alias


# Unicode hyphens read as "-" ("SARS‐CoV‐2" with U+2010 is the KB's "SARS-CoV-2")
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-"})


def strip_markup(text: str) -> tuple[str, list[int] | None]:
    """The text without XML/HTML tags, and the input position of each of its characters (plus one
    for its end), or None when there was no tag."""
    if "<" not in text:
        return text, None
    parts: list[str] = []
    positions: list[int] = []
    last = 0
    for match in _MARKUP_RE.finditer(text):
        parts.append(text[last : match.start()])
        positions.extend(range(last, match.start()))
        if (match.group(2) or "").lower() not in INLINE_TAGS:
            parts.append(" ")
            positions.append(match.start())
        last = match.end()
    parts.append(text[last:])
    positions.extend(range(last, len(text) + 1))
    return "".join(parts), positions


def blank_long_words(text: str) -> str:
    """Whitespace-free runs over `MAX_WORD_CHARS` characters replaced by as many spaces."""
    return _LONG_WORD_RE.sub(lambda m: " " * len(m.group()), text)


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[tuple[int, str]]:
    """(offset, piece) pieces of at most about `size` characters, cut after a sentence or a space."""
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        cut = max(window.rfind(". "), window.rfind("\n"))
        if cut < size // 2:
            cut = window.rfind(" ")
        if cut < size // 2:
            cut = size - 1
        yield start, text[start : start + cut + 1]
        start += cut + 1
    if start < len(text):
        yield start, text[start:]


class ConceptTagger:
    """A loaded pipeline; `tag` is safe to call repeatedly (the linker's look-ups are memoized)."""

    def __init__(self, config: NlpConfig | None = None, *, nlp: Language | None = None) -> None:
        self.config = config or NlpConfig.from_env()
        self.nlp = nlp or build_pipeline(self.config)
        self.linker = self.nlp.get_pipe("scispacy_linker")
        self.kb = self.linker.kb
        self.mesh_twins = modality_mesh_twins(self.kb.cui_to_entity)

    def tag(self, texts: Sequence[str | None]) -> list[list[Mention]]:
        """The mentions of each text, in text order; see the module docstring."""
        for i, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"tag() takes strings; item {i} is {type(text).__name__}")
        pieces: list[tuple[int, int, str]] = []  # (text index, offset, piece)
        positions: dict[int, list[int] | None] = {}  # text index → input position of each character
        for i, text in enumerate(texts):
            if not text or not text.strip():
                continue
            plain, positions[i] = strip_markup(text[:MAX_TEXT_CHARS])
            plain = plain.translate(_HYPHENS)  # one character for one: spans still index the text
            pieces.extend((i, offset, piece) for offset, piece in chunks(blank_long_words(plain)))
        results: list[list[Mention]] = [[] for _ in texts]
        for start in range(0, len(pieces), BATCH_SIZE):
            batch = pieces[start : start + BATCH_SIZE]
            for (i, offset, _), mentions in zip(batch, self._tag_batch([p for _, _, p in batch])):
                source, where = texts[i], positions[i]
                for m in mentions:
                    begin, end = m.start + offset, m.end + offset
                    if where is not None:
                        begin, end = where[begin], where[end - 1] + 1
                    # the text as given: a span across markup keeps its tags
                    results[i].append(replace(m, start=begin, end=end, text=source[begin:end]))  # type: ignore[index]
        return results

    def _tag_batch(self, pieces: list[str]) -> list[list[Mention]]:
        with warnings.catch_warnings():
            # scispaCy's abbreviation detector runs an empty Matcher on texts without abbreviations.
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            try:
                return [self._mentions(doc) for doc in self._link(self._parse(pieces))]
            except Exception:  # noqa: BLE001 - one bad text must not lose the batch: retry one by one
                log.exception("concept tagging failed on a batch of %d texts; retrying one by one", len(pieces))
            out = []
            for piece in pieces:
                try:
                    out.append(self._mentions(self._link(self._parse([piece]))[0]))
                except Exception:  # noqa: BLE001
                    log.exception("concept tagging failed on a text of %d characters: %r", len(piece), piece[:80])
                    out.append([])
            return out

    def _parse(self, pieces: list[str]) -> list[Doc]:
        """Every pipe but the linker: tokens, abbreviations, candidate spans (`doc.ents`)."""
        return list(self.nlp.pipe(pieces, disable=["scispacy_linker"]))

    def _link(self, docs: list[Doc]) -> list[Doc]:
        """Run the linker on docs, after one batched candidate look-up for all their mentions."""
        strings = [s for doc in docs for s in _linker_mention_strings(doc)]
        self.linker.candidate_generator(strings, self.linker.k)
        return [self.linker(doc) for doc in docs]

    def _mentions(self, doc: Doc) -> list[Mention]:
        out: list[Mention] = []
        for ent in doc.ents:
            best: dict[str, tuple[tuple, str, float]] = {}
            for concept_id, score in ent._.kb_ents:
                vocab = vocabulary_of(concept_id)
                rank = (-score, self._name_distance(concept_id, ent), concept_id)
                if vocab not in best or rank < best[vocab][0]:
                    best[vocab] = (rank, concept_id, score)
            for vocab, (_, concept_id, score) in sorted(best.items()):
                entity = self.kb.cui_to_entity[concept_id]
                out.append(
                    Mention(
                        vocab=vocab,
                        code=concept_id,
                        name=entity.canonical_name,
                        semantic_types=tuple(entity.types),
                        start=ent.start_char,
                        end=ent.end_char,
                        text=ent.text,
                        score=round(float(score), 4),
                    )
                )
            if "UMLS" in best and "MSH" not in best:
                twin = self.mesh_twins.get(best["UMLS"][1])
                if twin is not None:  # "CT image": the modality concept, and the MeSH descriptor users query
                    out.append(replace(out[-1], vocab="MSH", code=twin,
                                       name=self.kb.cui_to_entity[twin].canonical_name, semantic_types=()))
        return out

    def _name_distance(self, concept_id: str, ent: Span) -> int:
        """0 when a name or alias of the concept is the mention's text (or long form) as written,
        1 when it is up to case, 2 otherwise: breaks ties between equally similar concepts."""
        entity = self.kb.cui_to_entity[concept_id]
        texts = _linker_mention_strings_of(ent)
        names = (entity.canonical_name, *entity.aliases)
        if any(n in texts for n in names):
            return 0
        folded = {t.casefold() for t in texts}
        return 1 if any(n.casefold() in folded for n in names) else 2


def modality_mesh_twins(entities: Mapping[str, object], path: Path = VOCAB_DIR / "modality_mesh.csv") -> dict[str, str]:
    """UMLS modality CUI → the MeSH descriptor of the same procedure (`vocab/modality_mesh.csv`), for
    the descriptors the KB holds: a caption's "CT image" is linked to the modality concept by its
    alias, and users search MeSH's "Tomography, X-Ray Computed" too."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {r["cui"]: r["mesh_id"] for r in rows if r["mesh_id"] in entities}


def _linker_mention_strings_of(ent: Span) -> list[str]:
    long_form = ent._.long_form if Span.has_extension("long_form") else None
    if isinstance(long_form, Span):
        return [long_form.text]
    if isinstance(long_form, str):
        return [long_form]
    return [ent.text]


def _linker_mention_strings(doc: Doc) -> list[str]:
    """The strings scispaCy's EntityLinker looks up for `doc.ents` (long forms for abbreviations)."""
    return [s for ent in doc.ents for s in _linker_mention_strings_of(ent)]


@lru_cache(maxsize=1)
def get_tagger() -> ConceptTagger:
    """The process's tagger, configured from the environment, loaded on first use."""
    return ConceptTagger()


def tag(texts: Sequence[str | None]) -> list[list[Mention]]:
    """Concept mentions of each text (see `ConceptTagger.tag`)."""
    return get_tagger().tag(texts)
