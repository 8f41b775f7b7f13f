"""Train / validation / test splits by article, deterministic from a seed.

Every figure (and panel) of an article lands in the article's split, so nothing leaks between splits.
The split of an article is a pure function of (seed, article_key, fractions): sha256 of
"<seed>:<article_key>" read as a number u in [0, 1), then the first split whose cumulative fraction
exceeds u. The same seed gives the same assignment on any database holding the article, and adding
articles never moves existing ones.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

DEFAULT_NAMES = ("train", "validation", "test")
ALL = "all"  # the one split of an export without splits


class SplitError(ValueError):
    """Split fractions that cannot be used."""


@dataclass(frozen=True)
class Splits:
    """Ordered (name, fraction) pairs; fractions are positive and sum to 1."""

    parts: tuple[tuple[str, float], ...] = ((ALL, 1.0),)

    def __post_init__(self) -> None:
        if not self.parts:
            raise SplitError("no splits given")
        names = [name for name, _ in self.parts]
        if len(set(names)) != len(names):
            raise SplitError(f"split names repeat: {names}")
        for name, fraction in self.parts:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise SplitError(f"split name {name!r}: letters, digits, '-' and '_' only")
            if not (fraction > 0 and math.isfinite(fraction)):
                raise SplitError(f"split {name!r} has fraction {fraction}: must be > 0")
        total = sum(f for _, f in self.parts)
        if abs(total - 1.0) > 1e-6:
            raise SplitError(f"split fractions sum to {total:g}, not 1 ({self.describe()})")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.parts]

    def describe(self) -> str:
        return ",".join(f"{name}={fraction:g}" for name, fraction in self.parts)

    def to_list(self) -> list[list]:
        """[[name, fraction], ...]: a list, because the order is part of the rule (JSON objects may be
        reordered: JSONB and sorted-key dumps do)."""
        return [[name, fraction] for name, fraction in self.parts]

    @classmethod
    def from_value(cls, value: "Splits | dict | str | list | tuple | None") -> "Splits":
        """Accept a Splits, {"train": 0.9, ...}, [["train", 0.9], ...], "0.9/0.05/0.05" or
        "train=0.9,validation=0.05,test=0.05"; None means one split named "all"."""
        if value is None:
            return cls()
        if isinstance(value, Splits):
            return value
        if isinstance(value, dict):
            return cls(tuple((str(k), float(v)) for k, v in value.items()))
        if isinstance(value, (list, tuple)):
            return cls(tuple((str(k), float(v)) for k, v in value))
        text = str(value).strip()
        if not text:
            return cls()
        try:
            if "=" in text:
                pairs = [part.split("=", 1) for part in text.replace(";", ",").split(",") if part.strip()]
                return cls(tuple((k.strip(), float(v)) for k, v in pairs))
            fractions = [float(p) for p in text.replace(",", "/").split("/") if p.strip()]
        except ValueError as exc:
            raise SplitError(f"cannot read splits {text!r}: use 0.9/0.05/0.05 or train=0.9,test=0.1") from exc
        if len(fractions) > len(DEFAULT_NAMES):
            raise SplitError(f"{len(fractions)} fractions but only names for 3; use name=fraction pairs")
        return cls(tuple(zip(DEFAULT_NAMES, fractions)))


def unit_interval(seed: int | str, article_key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{article_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(article_key: str, seed: int | str, splits: Splits) -> str:
    """The split of one article."""
    if len(splits.parts) == 1:
        return splits.parts[0][0]
    u = unit_interval(seed, article_key)
    cumulative = 0.0
    for name, fraction in splits.parts:
        cumulative += fraction
        if u < cumulative:
            return name
    return splits.parts[-1][0]  # u just below 1 with fractions summing to 1 - ε


class SplitAssigner:
    """assign_split with a memo of the current article (rows arrive grouped by article)."""

    def __init__(self, seed: int | str, splits: Splits):
        self.seed = seed
        self.splits = splits
        self._last: tuple[str, str] | None = None

    def __call__(self, article_key: str) -> str:
        if self._last is None or self._last[0] != article_key:
            self._last = (article_key, assign_split(article_key, self.seed, self.splits))
        return self._last[1]
