"""Which spans of a caption may become concept mentions: the precision rules of concept tagging.

A span is never linked when it is a single character, a panel label ("A", "B2", "iii"), a number or
a measurement unit ("mm", "h", "kDa"), an English stop word (unless written as an acronym: "GO"), or one of the generic aliases of
`captions/vocab/stop_aliases.txt` ("cells", "time", "patients"…). The same rules decide which KB
aliases the vocabulary matcher looks for, and which entities of a scispaCy NER model are linked.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import captions.spacy_without_torch  # noqa: F401  (before spaCy)
from spacy.lang.en.stop_words import STOP_WORDS

__all__ = ["is_acronym", "is_linkable", "stop_aliases"]

STOP_ALIASES_FILE = Path(__file__).resolve().parent / "vocab" / "stop_aliases.txt"

UNITS = frozenset(
    """mm cm µm μm um nm pm km m ml mL µl μl µL μL ul uL l L dl dL mg g kg µg μg ug ng pg fg mol mmol
    µmol μmol nmol M mM µM μM uM nM pM fM h hr hrs min mins s sec secs ms µs μs d wk wks yr yrs mo
    Hz kHz MHz GHz kDa Da bp kb kbp Mb Gb °C ℃ K rpm V mV µV μV A mA nA pA W mW J kJ kcal cal Gy cGy
    mGy Bq MBq kBq mCi µCi T mT ppm ppb au AU OD x ×""".split()
)
_NUMBER_RE = re.compile(r"^[\d\s.,:;/±+\-–—×x%~<>=()\[\]′'″\"]*\d[\d\s.,:;/±+\-–—×x%~<>=()\[\]′'″\"]*$")
_PANEL_LABEL_RE = re.compile(r"^[\(\[]?(?:[A-Za-z]\d{0,2}|[A-Za-z]['′]|[ivxIVX]{1,4})[\)\].:]?$")


@lru_cache(maxsize=1)
def stop_aliases() -> frozenset[str]:
    """The casefolded entries of `stop_aliases.txt` (comments and blank lines skipped)."""
    lines = STOP_ALIASES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def is_acronym(word: str) -> bool:
    """A word whose case carries meaning: two or more capitals ("CT", "mRNA", "ChIP", "H&E")."""
    return sum(c.isupper() for c in word) >= 2


def is_linkable(text: str) -> bool:
    """Whether a span of text may be linked to a concept at all."""
    text = text.strip()
    if len(text) < 2:
        return False
    if len(text) == 2 and not is_acronym(text):  # "Id", "Qi", "mm"; "CT" and "US" stay possible
        return False
    folded = text.casefold()
    stops = stop_aliases()
    # One acronym is not the English word its letters spell ("GO" is Gene Ontology, never "go"): the
    # matcher keeps an acronym alias's case, so only the stop-alias list applies to it.
    acronym = is_acronym(text) and text.isalnum()
    if (folded in STOP_WORDS and not acronym) or folded in stops or (folded.endswith("s") and folded[:-1] in stops):
        return False  # a stopped word's plural too ("times", "roles", "leads")
    if text in UNITS or _NUMBER_RE.match(text) or _PANEL_LABEL_RE.match(text):
        return False
    words = re.findall(r"\w+", text)
    if not words:
        return False
    if acronym:
        return True
    # "of the", "1 mm", "the B": nothing left that could name a concept
    return any(
        w.casefold() not in STOP_WORDS and w not in UNITS and not w.isdigit() and len(w) > 1 for w in words
    )
