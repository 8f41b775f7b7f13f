"""Keyset pagination with opaque cursors.

A cursor is base64url(JSON `{"k": [sort key of the last item], "h": hash of the query}`). The next page
is "rows after that key in the same order" (`WHERE (rank, id) < …`, never OFFSET), so page 10,000 costs
what page 1 costs. The hash binds a cursor to the filters and ordering it came from: a cursor replayed
with other filters would silently skip or repeat rows, so it is refused (422).

Sort keys are `[id]` (ascending) or `[rank, id]` (rank descending, id ascending) for ranked full-text
queries; ranks are PostgreSQL `real` values, which a JSON double carries exactly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from api.problems import Problem

MAX_CURSOR_LENGTH = 512
MAX_ID = 2**63 - 1


def query_hash(kind: str, params: Any) -> str:
    """A short stable digest of what a listing was asked for (filters, level, ordering)."""
    if is_dataclass(params):
        params = asdict(params)
    canonical = json.dumps({"kind": kind, "params": _normalised(params)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _normalised(value: Any) -> Any:
    # [] and None mean the same (no filter); lists are order-insensitive
    if isinstance(value, Mapping):
        return {k: _normalised(v) for k, v in value.items() if v not in (None, [], "")}
    if isinstance(value, (list, tuple)):
        return sorted(str(v) for v in value)
    return value


def encode_cursor(key: Sequence[int | float], qhash: str) -> str:
    raw = json.dumps({"k": list(key), "h": qhash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, qhash: str, *, ranked: bool) -> tuple[Any, ...]:
    """The sort key inside `cursor`, or a 422 when it is malformed or belongs to another query."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise Problem(422, "cursor is too long", title="Invalid cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise Problem(422, "cursor is not one this API issued", title="Invalid cursor") from exc
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise Problem(422, "cursor is not one this API issued", title="Invalid cursor")
    if data.get("h") != qhash:
        raise Problem(
            422,
            "cursor belongs to a different query: repeat the filters of the request that returned it",
            title="Cursor does not match the query",
        )
    key = data["k"]
    if ranked:
        ok = (
            len(key) == 2
            and isinstance(key[0], (int, float)) and not isinstance(key[0], bool) and math.isfinite(key[0])
            and _is_id(key[1])
        )
    else:
        ok = len(key) == 1 and _is_id(key[0])
    if not ok:
        raise Problem(422, "cursor is not one this API issued", title="Invalid cursor")
    return tuple(key)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
