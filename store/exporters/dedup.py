"""Duplicate removal across an export: the first image in export order is kept, later copies dropped.

`sha256`: exact copies of the same bytes. `phash`: near-copies, perceptual hashes (imagehash.phash,
64 bits) within a Hamming distance ≤ threshold; exact sha256 copies are dropped too.

Near-duplicate search uses multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming
space with multi-index hashing", CVPR 2012): the bits are cut into threshold + 1 disjoint chunks, and
by the pigeonhole principle two hashes within distance `threshold` agree exactly on at least one
chunk. Each kept hash is indexed under each of its chunks; a new hash is compared (popcount of the
XOR) only with the hashes that share one of its chunks. Memory is O(kept × chunks); lookups stay
near-constant for the small thresholds that make sense for pHash (≤ 10).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

METHODS = ("sha256", "phash")


class DedupError(ValueError):
    """A dedup setting that cannot be used."""


@dataclass(frozen=True)
class Dedup:
    method: str = "sha256"  # sha256 | phash
    threshold: int = 4  # phash: largest Hamming distance counted as a duplicate

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DedupError(f"unknown dedup method {self.method!r}: use one of {', '.join(METHODS)}")
        if not 0 <= self.threshold <= 32:
            raise DedupError(f"phash threshold {self.threshold} out of range 0..32")

    def to_dict(self) -> dict:
        return {"method": self.method, "threshold": self.threshold} if self.method == "phash" else {"method": "sha256"}

    @classmethod
    def from_value(cls, value: "Dedup | dict | str | None") -> "Dedup | None":
        """None / "" / "none" → no dedup; "sha256"; "phash" or "phash:6"; {"method", "threshold"}."""
        if value is None or isinstance(value, Dedup):
            return value
        if isinstance(value, dict):
            return cls(str(value.get("method", "sha256")), int(value.get("threshold", 4)))
        text = str(value).strip().lower()
        if text in ("", "none", "off", "false"):
            return None
        method, _, threshold = text.partition(":")
        try:
            return cls(method, int(threshold) if threshold else 4)
        except ValueError as exc:
            raise DedupError(f"cannot read dedup {value!r}: use sha256, phash or phash:N") from exc


class PhashIndex:
    """Multi-index hash table over fixed-width bit strings."""

    def __init__(self, threshold: int, bits: int = 64):
        self.threshold = threshold
        self.bits = bits
        n = threshold + 1
        # chunk i covers bits [starts[i], starts[i] + widths[i]); widths differ by at most one
        self.widths = [bits // n + (1 if i < bits % n else 0) for i in range(n)]
        self.starts = [sum(self.widths[:i]) for i in range(n)]
        self.tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(n)]

    def _chunks(self, value: int):
        for i, (start, width) in enumerate(zip(self.starts, self.widths)):
            yield i, (value >> start) & ((1 << width) - 1)

    def near(self, value: int) -> int | None:
        """A stored value within the threshold of `value`, or None."""
        for i, chunk in self._chunks(value):
            for other in self.tables[i].get(chunk, ()):
                if (value ^ other).bit_count() <= self.threshold:
                    return other
        return None

    def add(self, value: int) -> None:
        for i, chunk in self._chunks(value):
            self.tables[i][chunk].append(value)


class Deduplicator:
    """Decides, record by record in export order, whether an image was already exported."""

    def __init__(self, dedup: Dedup):
        self.dedup = dedup
        self.seen_sha: set[bytes] = set()
        self.indexes: dict[int, PhashIndex] = {}  # by bit width (pHash hex length × 4)
        self.removed = {"sha256": 0, "phash": 0}

    def is_duplicate(self, sha256: str | None, phash: str | None) -> bool:
        """True if a copy was seen before (and counts it); else remembers this one and returns False."""
        digest = bytes.fromhex(sha256) if sha256 else None
        if digest is not None and digest in self.seen_sha:
            self.removed["sha256"] += 1
            return True
        value = None
        if self.dedup.method == "phash" and phash:
            value = int(phash, 16)
            index = self.indexes.get(len(phash) * 4)
            if index is not None and index.near(value) is not None:
                self.removed["phash"] += 1
                return True
        if digest is not None:
            self.seen_sha.add(digest)
        if value is not None:
            bits = len(phash) * 4
            self.indexes.setdefault(bits, PhashIndex(self.dedup.threshold, bits)).add(value)
        return False
