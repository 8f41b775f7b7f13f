"""Fit a row's values to its table's columns before SQL, so one overlong field never fails an article.

The limits are read from the models (`String(500)`, `ARRAY(String(16))`), not written twice. A text
that is longer than its column is cut with a warning saying which field and how long it was; NUL
characters, which PostgreSQL refuses in text and JSON, are removed. Identifiers are not cut here:
`harvester.identity` refuses invalid ones before they become keys, because a cut identifier could
merge two articles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, Integer, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase

_INT_RANGE = {SmallInteger: (-(2**15), 2**15 - 1), Integer: (-(2**31), 2**31 - 1)}


def _clean(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def _int_range(column_type) -> tuple[int, int] | None:
    for kind, bounds in _INT_RANGE.items():
        if type(column_type) is kind:
            return bounds
    return None


def fit_row(model: type[DeclarativeBase], values: dict[str, Any], warnings: list[str], where: str = "") -> dict:
    """`values` with every text cut to its column's length and every integer in its column's range
    (out of range: None); what was changed is appended to `warnings`."""
    columns = model.__table__.c
    prefix = f"{where}: " if where else ""
    for name, value in values.items():
        if value is None or name not in columns:
            continue
        column_type = columns[name].type
        if isinstance(value, str):
            value = _clean(value)
            limit = getattr(column_type, "length", None)
            if limit is not None and len(value) > limit:
                warnings.append(f"{prefix}{name} of {len(value)} characters cut to {limit}")
                value = value[:limit]
            values[name] = value
        elif isinstance(value, list) and isinstance(column_type, ARRAY) and isinstance(column_type.item_type, String):
            limit = column_type.item_type.length
            if any(isinstance(v, str) and (len(v) > (limit or len(v)) or "\x00" in v) for v in value):
                warnings.append(f"{prefix}{name}: items longer than {limit} characters cut")
                values[name] = [_clean(v)[:limit] if isinstance(v, str) else v for v in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            bounds = _int_range(column_type)
            if bounds and not bounds[0] <= value <= bounds[1]:
                warnings.append(f"{prefix}{name} {value} out of range: left out")
                values[name] = None
    return values


def clean_json(value: Any) -> Any:
    """A JSON-able value without NUL characters in its strings (PostgreSQL's jsonb refuses \\u0000)."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    return value
