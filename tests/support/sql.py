"""One-off SQL against a test database: each call opens and disposes its own engine."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def rows(url: str, sql: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def scalar(url: str, sql: str):
    found = rows(url, sql)
    return found[0][0] if found else None
