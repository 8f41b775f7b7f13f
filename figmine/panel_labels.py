"""Panel labels compared: one key for the labels the detector reads, the captions name and the citances cite.

The three sources write the same panel differently: the detector reads "(b')" off the image, a caption
prints "B′" (U+2032) or "B’" (a typographic apostrophe), a citance "Fig. 2b′". Before this module each
layer normalised on its own and A′ never met A' (issue 13). ``panel_key`` is the one comparison key:
brackets, punctuation and spaces dropped, every prime-like mark written as U+2032, letters upper-case.
"""

from __future__ import annotations

import re

__all__ = ["PRIME", "PRIMES", "panel_key", "same_panel"]

PRIME = "\u2032"
# Marks that stand for a prime in real captions and OCR output: ′ ' ’ ‘ ` ´ ʹ (″ is two primes).
PRIMES = "\u2032'\u2019\u2018`\u00b4\u02b9"
_PRIME_TABLE = str.maketrans({**{ch: PRIME for ch in PRIMES}, "\u2033": PRIME * 2})
_DROP_RE = re.compile(r"[\s()\[\]{}.,:;|]")


def panel_key(label: str | None) -> str:
    """"(b')", "B’", "b′ " → "B′"; "Aii" → "AII"; None or punctuation only → ""."""
    if not label:
        return ""
    return _DROP_RE.sub("", label.translate(_PRIME_TABLE)).upper()


def same_panel(a: str | None, b: str | None) -> bool:
    """Whether two labels name the same panel (an empty label names none)."""
    ka = panel_key(a)
    return bool(ka) and ka == panel_key(b)
