"""Look figures up by JATS id and by printed number, to resolve references and expand ranges.

"Figs 2–4" is usually marked up as two xrefs (to fig2 and fig4); fig3 is found by number. Each
figure gets a key (container, label prefix, "S" or "", number) from its label ("Figure 3" →
("fig", "", 3); "Figure 2—figure supplement 1" → ("fig2figsupplement", "", 1); "Fig. S2" →
("fig", "S", 2)), or from its id when it has no label ("F3"). The container separates a main
article from its sub-articles (SciELO translations number their figures again from 1).
"""

from __future__ import annotations

import re

from harvester.jats.figures import FigureEntry

# numbers of at most 9 digits: int() refuses 4,300 digits, and no figure is numbered beyond
_LABEL_NUMBER = re.compile(r"^(.*?)(?:(?<![A-Za-z])([Ss]))?(?<!\d)(\d{1,9})\D*$")
_ID_NUMBER = re.compile(r"^(.*?)(?<!\d)(\d{1,9})$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_MAX_RANGE = 60  # a longer "range" is a mis-parse, not a citation


def _prefix(raw: str) -> str:
    return _NOT_ALNUM.sub("", raw.lower()).replace("figure", "fig").replace("figura", "fig")


class FigureIndex:
    """Figure ids of one article with their keys and document order."""

    def __init__(self, entries: list[FigureEntry]):
        self.ids: set[str] = set()
        self._key: dict[str, tuple[str | None, str, str, int]] = {}
        self._by_key: dict[tuple[str | None, str, str, int], str] = {}
        self._position: dict[str, int] = {}
        self._level: dict[str, tuple[str | None, str | None]] = {}  # (container, parent) siblings
        self._order: list[str] = []
        for entry in entries:
            fig = entry.figure
            fid = fig.jats_id
            if not fid or fid in self.ids:
                continue
            self.ids.add(fid)
            self._position[fid] = len(self._order)
            self._order.append(fid)
            self._level[fid] = (entry.container, fig.parent_jats_id)
            key = self._make_key(entry.container, fig.label, fid)
            if key is not None:
                self._key[fid] = key
                self._by_key.setdefault(key, fid)

    @staticmethod
    def _make_key(container: str | None, label: str | None, fid: str) -> tuple[str | None, str, str, int] | None:
        if label:
            m = _LABEL_NUMBER.match(label)
            if m:
                return container, _prefix(m.group(1)), (m.group(2) or "").upper(), int(m.group(3))
        m = _ID_NUMBER.match(fid)
        if m:
            return container, "id:" + m.group(1), "", int(m.group(2))
        return None

    def number(self, fid: str) -> tuple[str, int] | None:
        """The printed number of a figure: ("S", 2) for "Fig. S2"."""
        key = self._key.get(fid)
        return (key[2], key[3]) if key else None

    def lookup(self, number: tuple[str, int], like: str) -> str | None:
        """The figure numbered `number` in the same series as figure `like`."""
        key = self._key.get(like)
        if key is None:
            return None
        return self._by_key.get((key[0], key[1], number[0], number[1]))

    def between(self, first: str, last: str) -> list[str]:
        """Figures strictly between `first` and `last` of a range ("Figs 2–4" → [fig3])."""
        a, b = self._key.get(first), self._key.get(last)
        if a and b and a[:3] == b[:3] and 0 < b[3] - a[3] <= _MAX_RANGE:
            return [
                fid for n in range(a[3] + 1, b[3]) if (fid := self._by_key.get((*a[:3], n))) is not None
            ]
        # no comparable numbers: fall back to document order among figures of the same level
        pa, pb = self._position.get(first), self._position.get(last)
        if pa is None or pb is None or not 0 < pb - pa <= _MAX_RANGE:
            return []
        level = self._level[first]
        if self._level[last] != level:
            return []
        return [fid for fid in self._order[pa + 1 : pb] if self._level[fid] == level]
