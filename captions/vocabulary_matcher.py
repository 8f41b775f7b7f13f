"""Entity candidates for linking: the vocabulary's aliases found in the text, longest first.

The ``figmine_vocabulary_matcher`` pipe sets ``doc.ents`` to the spans the linker should look at:

1. every occurrence of a KB alias, found by a spaCy `PhraseMatcher` on lower-cased tokens; an alias
   that is an acronym keeps its case ("CT", "US", "ChIP" do not match "ct", "us", "chip");
   aliases that `captions.concept_filters.is_linkable` rejects are never looked for;
2. every abbreviation that scispaCy's ``abbreviation_detector`` found with a long form defined in
   the text ("hepatocellular carcinoma (HCC)" → each "HCC"); the linker then links its long form;
3. entities of the model's own NER, when the pipeline has one (en_core_sci_sm/md), where they do
   not overlap 1 or 2.

Overlaps among 1 and 2 are resolved by `spacy.util.filter_spans`: the longest span wins ("CT scan"
over "CT", "Hepatocellular Carcinoma" over "Carcinoma").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from captions.concept_filters import is_acronym, is_linkable

__all__ = ["VocabularyMatcher", "kb_aliases"]

LABEL = "CONCEPT"


def kb_aliases(kb_jsonl: str | Path) -> list[str]:
    """Every alias (and canonical name) of a scispaCy KB JSONL file."""
    aliases: dict[str, None] = {}
    with open(kb_jsonl, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            aliases[record["canonical_name"]] = None
            for alias in record.get("aliases", []):
                aliases[alias] = None
    return list(aliases)


class VocabularyMatcher:
    """Proposes `doc.ents` for the linker (see the module docstring)."""

    def __init__(self, nlp: Language, aliases: Iterable[str]) -> None:
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._any_case: set[tuple[str, ...]] = set()
        # lower-cased token key → acceptable case patterns (acronym tokens as written, others None)
        self._cased: dict[tuple[str, ...], set[tuple[str | None, ...]]] = {}
        # Patterns are given to the PhraseMatcher as tuples of LOWER hashes rather than as Docs: it
        # keeps whatever it is given, and 45k pattern Docs would hold about 230 MB.
        patterns: dict[tuple[str, ...], tuple[int, ...]] = {}
        linkable = (a for a in aliases if is_linkable(a))
        for doc in nlp.tokenizer.pipe(linkable, batch_size=1000):
            key = tuple(t.lower_ for t in doc)
            if not key:
                continue
            if not any(is_acronym(t.text) for t in doc):
                self._any_case.add(key)
            else:
                form = tuple(t.text if is_acronym(t.text) else None for t in doc)
                self._cased.setdefault(key, set()).add(form)
            patterns.setdefault(key, tuple(t.lower for t in doc))
        self.matcher.add(LABEL, list(patterns.values()))
        self.size = len(patterns)

    def _case_ok(self, span: Span) -> bool:
        key = tuple(t.lower_ for t in span)
        if key in self._any_case:
            # an ordinary word written in capitals names software or a project, not the concept:
            # "MUSCLE alignment", "UCSF CHIMERA" (unless an acronym alias has that spelling: "FISH")
            letters = [c for c in span.text if c.isalpha()]
            if not (len(letters) >= 4 and all(c.isupper() for c in letters)):
                return True
        return any(
            all(want is None or want == tok.text for want, tok in zip(form, span))
            for form in self._cased.get(key, ())
        )

    def candidates(self, doc: Doc) -> list[Span]:
        spans = [
            doc[start:end] for _, start, end in self.matcher(doc) if self._case_ok(doc[start:end])
        ]
        if Doc.has_extension("abbreviations"):
            spans += [
                short
                for short in doc._.abbreviations
                if isinstance(short._.long_form, Span) and is_linkable(short.text)
            ]
        return filter_spans(spans)

    def __call__(self, doc: Doc) -> Doc:
        chosen = [Span(doc, s.start, s.end, label=LABEL) for s in self.candidates(doc)]
        taken = {i for s in chosen for i in range(s.start, s.end)}
        model_ents = [
            e
            for e in doc.ents
            if not taken.intersection(range(e.start, e.end)) and is_linkable(e.text)
        ]
        doc.ents = sorted(chosen + list(model_ents), key=lambda s: s.start)
        return doc


@Language.factory("figmine_vocabulary_matcher", default_config={"kb_jsonl": ""})
def make_vocabulary_matcher(nlp: Language, name: str, kb_jsonl: str) -> VocabularyMatcher:
    return VocabularyMatcher(nlp, kb_aliases(kb_jsonl))
