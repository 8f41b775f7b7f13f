"""The frozen dev / test split of every hand-made gold set (detector figures, subcaptions), by article.

All gold of one article lands on one side, so a rule tuned on a dev figure never sees its sibling on
the test side; the split depends on the article id alone and was fixed before any tuning, so adding
gold never moves an item from one side to the other.
"""

from __future__ import annotations

import hashlib

__all__ = ["SPLITS", "gold_split"]

SPLITS = ("dev", "test")


def gold_split(article: str) -> str:
    """"test" for one article in three, by sha256 of its id (first 8 hex digits mod 3 == 0), else "dev"."""
    return "test" if int(hashlib.sha256(article.encode()).hexdigest()[:8], 16) % 3 == 0 else "dev"
