"""Licence codes as PMC writes them ("CC BY", "CC BY-NC-ND", "CC0", "NO-CC CODE", ...).

Sources disagree on spelling (JATS <license> URLs, "CC-BY", license.txt prose); everything is
normalised here so that `--license commercial` filters one column.
"""

from __future__ import annotations

import re

COMMERCIAL = frozenset({"CC0", "CC BY", "CC BY-SA", "CC BY-ND", "PD"})
NONCOMMERCIAL = frozenset({"CC BY-NC", "CC BY-NC-SA", "CC BY-NC-ND"})

_URL_RE = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z\-]+)", re.IGNORECASE)
_CODE_RE = re.compile(r"\bCC[\s\-_]*(0|ZERO|BY(?:[\s\-_]*(?:NC|SA|ND))*)\b", re.IGNORECASE)


def _canonical_parts(raw: str) -> str:
    parts = [p for p in re.split(r"[\s\-_]+", raw.upper()) if p]
    if parts[:1] in (["0"], ["ZERO"]):
        return "CC0"
    # BY first, then NC, then SA/ND as PMC writes them
    order = {"BY": 0, "NC": 1, "SA": 2, "ND": 2}
    parts = sorted(dict.fromkeys(parts), key=lambda p: order.get(p, 9))
    return "CC " + "-".join(parts)


def normalise_license(value: str | None) -> str | None:
    """Map a licence code, URL or sentence to PMC's code; None when nothing is recognised."""
    if not value:
        return None
    text = value.strip()
    url = _URL_RE.search(text)
    if url:
        kind, name = url.group(1).lower(), url.group(2).lower()
        if kind == "publicdomain":
            return "CC0" if name == "zero" else "PD"
        return _canonical_parts(name)
    upper = text.upper()
    if upper in {"NO-CC CODE", "NONE", "TDM"}:
        return "NO-CC CODE" if upper == "NO-CC CODE" else upper
    code = _CODE_RE.search(text)
    if code:
        return _canonical_parts(code.group(1)) if code.group(1).upper() not in ("0", "ZERO") else "CC0"
    if re.search(r"public domain", text, re.IGNORECASE):
        return "PD"
    if re.search(r"creative commons attribution", text, re.IGNORECASE):
        nc = re.search(r"non-?commercial", text, re.IGNORECASE)
        nd = re.search(r"no-?deriv", text, re.IGNORECASE)
        sa = re.search(r"share-?alike", text, re.IGNORECASE)
        return "CC BY" + ("-NC" if nc else "") + ("-ND" if nd else "") + ("-SA" if sa and not nd else "")
    return None


def license_class(code: str | None) -> str:
    """'commercial', 'noncommercial' or 'other' (unknown, publisher-specific, TDM-only)."""
    if code in COMMERCIAL:
        return "commercial"
    if code in NONCOMMERCIAL:
        return "noncommercial"
    return "other"


def license_allowed(code: str | None, wanted: str) -> bool:
    """`--license commercial|noncommercial|any`: noncommercial admits commercial licences too."""
    if wanted == "any":
        return True
    klass = license_class(code)
    if wanted == "commercial":
        return klass == "commercial"
    if wanted == "noncommercial":
        return klass in ("commercial", "noncommercial")
    raise ValueError(f"unknown licence filter {wanted!r}: use commercial, noncommercial or any")
