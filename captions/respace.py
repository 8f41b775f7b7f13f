"""Put back the spaces a text extraction lost at line breaks ("associationbetween" → "association between").

Captions that reach PMC through Word or PDF conversions (SourceData's EMBO captions among them) glue
the last word of a line to the first word of the next. A glued pair is an unknown word that splits
into two known ones, but most unknown words in biomedical text are real terms that also split that
way ("nanochromosome", "outdegree", "chordin", "stretchability"), so a split is taken only in the
shapes glue takes and terms almost never do:

- one half is a function word — an article, preposition, conjunction, auxiliary or number word
  ("isshown", "theefficiency", "twoseparate", "cyclesof") — and the other half is a real word of
  four letters or more;
- or both halves are common words of five letters or more ("fluorescenceintensity",
  "isolationmembrane"), the first not a word-forming prefix ("electro…", "photo…") and the second
  not a suffix ("…ability", "…most").

Known words never split: English from ``wordfreq``'s large list, plus Spanish, Portuguese, French,
German, Italian and Dutch (SciELO and other non-English captions), and tokens in URLs, e-mail
addresses, identifiers or with capitals and digits are left alone ("clinicaltrials.gov",
"KDM5C", "siRNA"). Measured on the 5,879 paragraphs of the JATS fixtures, whose text is spaced
correctly: see ``bench/RESULTS.md`` ("Subcaption splitting").
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

__all__ = ["respace"]

# Function words that glue to a neighbour. Short ones that also end or start many terms
# ("chordin", "crescentus", "indegree": in, on, as, at, us) are taken only in the narrower shapes
# below.
_LEFT_FUNCTION = frozenset(
    "the of and or to is are was were be been has had have with by at from for no not into than "
    "that which using via both only each all upon between within without after before during "
    "two three four five six seven eight nine ten".split()
)
_RIGHT_FUNCTION = frozenset(
    "the of and or are was were been has had have with from for not into than that which "
    "between within without after before during".split()
)
# "pointsat", "indicatedas": after an inflected word only.
_RIGHT_SHORT = frozenset("as at in on to by".split())
_INFLECTED = ("s", "ed", "ing")
_PREFIXES = frozenset(
    "anti auto bio chemo counter cross down electro extra hetero homo hyper hypo inter intra iso "
    "macro mega meta micro mini mono multi nano neo neuro non over para per photo poly post pre "
    "pro pseudo quasi radio retro self semi sub super supra tele trans tri ultra under uni".split()
)
_SUFFIXES = frozenset("ability ibility ally most sphere like less ward wards ship hood".split())

_OTHER_LANGUAGES = ("es", "pt", "fr", "de", "it", "nl")
_MIN_ZIPF = 3.0  # about 1 in a million words
_MIN_RARE_ZIPF = 1.5  # a listed word at all: for longer words next to a function word
_MIN_CONTENT_ZIPF = 3.5  # both halves of a content-word split
_MIN_CONTENT_LEN = 5
# Runs of letters, not inside URLs, paths, e-mail addresses, identifiers or TeX commands.
_TOKEN_RE = re.compile(r"(?<![\w@/.\\-])[A-Za-z][A-Za-z0-9]{4,39}(?![\w@/{}\[\]-]|\.[a-z])")
# A lower-case function word glued to a name or acronym: "withBafA1", "ofGFP", "theGFP".
_CAMEL_RE = re.compile(r"([a-z]{2,})([A-Z][A-Za-z0-9]*)")


@lru_cache(maxsize=1)
def _lexicons() -> tuple[dict[str, float], frozenset[str]]:
    """English word frequencies (wordfreq's large list, 321k words) and the common words of six
    other languages of PMC captions (the small lists: 35k words each; 0.2 s and 50 MB in all)."""
    from wordfreq import get_frequency_dict

    english = get_frequency_dict("en", "large")
    others = frozenset().union(*(get_frequency_dict(lang, "small") for lang in _OTHER_LANGUAGES))
    return english, others


def _zipf(freq: float) -> float:
    return math.log10(freq) + 9.0 if freq > 0 else 0.0


def _known(word: str) -> bool:
    english, others = _lexicons()
    return word in english or word in others


def _split_lower(token: str) -> tuple[str, str] | None:
    """Best split of an unknown lower-case token into two words, or None."""
    english, _ = _lexicons()
    best: tuple[float, str, str] | None = None
    for i in range(2, len(token) - 1):
        left, right = token[:i], token[i:]
        if left in _PREFIXES or right in _SUFFIXES:
            continue
        lz, rz = _zipf(english.get(left, 0.0)), _zipf(english.get(right, 0.0))
        if left in _LEFT_FUNCTION or right in _RIGHT_FUNCTION:
            # The other half may be a rare term ("Insetsare", "theendolysosomes" aside: it must
            # be a listed word), but not a short one ("thecate").
            other, oz = (right, rz) if left in _LEFT_FUNCTION else (left, lz)
            function = True
            ok = oz >= (_MIN_CONTENT_ZIPF if len(other) < 6 else _MIN_RARE_ZIPF) and len(other) >= 4
        elif right in _RIGHT_SHORT:
            function = False
            ok = len(left) >= _MIN_CONTENT_LEN and lz >= _MIN_CONTENT_ZIPF and left.endswith(_INFLECTED)
        else:
            function = False
            ok = (
                len(left) >= _MIN_CONTENT_LEN
                and len(right) >= _MIN_CONTENT_LEN
                and min(lz, rz) >= _MIN_ZIPF
                and max(lz, rz) >= _MIN_CONTENT_ZIPF + 0.5
            )
        score = lz + rz + (10.0 if function else 0.0)
        if ok and (best is None or score > best[0]):
            best = (score, left, right)
    return (best[1], best[2]) if best else None


@lru_cache(maxsize=65536)
def _respace_token(token: str) -> str:
    if token.islower():
        if _known(token):
            return token
        parts = _split_lower(token)
        return f"{parts[0]} {parts[1]}" if parts else token
    if token[0].isupper() and token[1:].islower():  # at a sentence start: "Insetsare", "Thearrowhead"
        lower = token.lower()
        if _known(lower):
            return token
        parts = _split_lower(lower)
        return f"{token[: len(parts[0])]} {parts[1]}" if parts else token
    m = _CAMEL_RE.fullmatch(token)
    if m and m.group(1) in _LEFT_FUNCTION and not _known(token.lower()):
        return f"{m.group(1)} {m.group(2)}"
    return token


def _sentence_start(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3) : pos].rstrip()
    return not before or before[-1] in ".:;!?)"


def respace(text: str) -> str:
    """``text`` with glued word pairs split; unchanged when none is found."""
    if not text:
        return text
    english, _ = _lexicons()
    out: list[str] = []
    last = 0
    for m in _TOKEN_RE.finditer(text):
        token = m.group(0)
        if token in english:
            continue
        if token[0].isupper() and token[1:].islower() and not _sentence_start(text, m.start()):
            continue  # a name ("Botsis"), not a glued sentence opening
        fixed = _respace_token(token)
        if fixed != token:
            out.append(text[last : m.start()])
            out.append(fixed)
            last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)
