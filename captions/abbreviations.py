"""scispaCy's abbreviation detector, with its parenthesis search bounded to linear time.

scispaCy's ``abbreviation_detector`` (Schwartz & Hearst, 2003) finds "long form (SF)" and
"SF (long form)" definitions by matching ``( anything+ )`` with a spaCy `Matcher`, then discards
every match whose inside is longer than 8 tokens. The Matcher enumerates every pair of an opening
and a later closing parenthesis first, so the work grows with the square of the number of
parentheses: 80% of the tagging time of an ordinary 10 kB caption, and a 100 kB text with thousands
of parentheses never finishes. ``figmine_abbreviation_detector`` is the same component with the
pattern ``( 1–8 tokens that are not parentheses )``: the matches scispaCy keeps, minus definitions
that contain parentheses themselves. Everything else (the algorithm, ``doc._.abbreviations``,
``span._.long_form``) is scispaCy's.
"""

from __future__ import annotations

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
from scispacy.abbreviation import AbbreviationDetector
from spacy.language import Language
from spacy.matcher import Matcher

__all__ = ["BoundedAbbreviationDetector"]

# scispaCy's `filter_matches` drops candidates whose inside is longer than this many tokens.
MAX_INSIDE_TOKENS = 8


@Language.factory("figmine_abbreviation_detector", default_config={"make_serializable": False})
class BoundedAbbreviationDetector(AbbreviationDetector):
    def __init__(self, nlp: Language, name: str = "figmine_abbreviation_detector", make_serializable: bool = False):
        super().__init__(nlp, name=name, make_serializable=make_serializable)
        self.matcher = Matcher(nlp.vocab)
        self.matcher.add(
            "parenthesis",
            [[
                {"ORTH": "("},
                {"ORTH": {"NOT_IN": ["(", ")"]}, "OP": f"{{1,{MAX_INSIDE_TOKENS}}}"},
                {"ORTH": ")"},
            ]],
        )
