"""JSON-lines front end of the subcaption splitter (``figmine split-caption``).

Input, one JSON object per line::

    {"id": "PMC123/F2", "caption": "Title. (A) … (B) …", "caption_xml": "<caption>…</caption>"}

``caption_xml`` is optional (bold labels in it are recognised). Output, one line per input line::

    {"id": "PMC123/F2", "subcaptions": [{"label": "A", "text": "…", "full_text": "…"}, …]}

A caption without panel markers gives ``"subcaptions": []``. A line that cannot be split (not
JSON, not an object, no string ``caption``) gives ``{"id": …, "error": "…"}`` and the stream goes
on; blank lines are skipped. Output is UTF-8 JSON with non-ASCII characters kept as they are.
"""

from __future__ import annotations

import json
from typing import IO

from captions.subcaptions import split_caption

__all__ = ["run_stdio", "split_jsonl", "split_record"]


def split_record(record: object) -> dict:
    """The output object for one parsed input record (never raises on bad records)."""
    if not isinstance(record, dict):
        return {"id": None, "error": f"expected a JSON object, got {type(record).__name__}"}
    rid = record.get("id")
    caption = record.get("caption")
    xml = record.get("caption_xml")
    if caption is None and isinstance(xml, str):
        caption = ""
    if not isinstance(caption, str):
        what = "missing" if caption is None else f"a {type(caption).__name__}, not a string"
        return {"id": rid, "error": f"caption is {what}"}
    if xml is not None and not isinstance(xml, str):
        return {"id": rid, "error": f"caption_xml is a {type(xml).__name__}, not a string"}
    try:
        subs = split_caption(caption, xml)
    except Exception as exc:  # noqa: BLE001 — one bad caption must not stop the stream
        return {"id": rid, "error": f"{type(exc).__name__}: {exc}"}
    return {"id": rid, "subcaptions": [{"label": s.label, "text": s.text, "full_text": s.full_text} for s in subs]}


def split_jsonl(stdin: IO[str], stdout: IO[str]) -> None:
    """Read caption records from ``stdin`` (JSON lines), write subcaption records to ``stdout``."""
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            out = {"id": None, "error": f"line {lineno}: invalid JSON: {exc}"}
        else:
            out = split_record(record)
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    stdout.flush()


def run_stdio() -> None:
    """``split_jsonl`` on the process's stdin/stdout as UTF-8 whatever the locale (invalid bytes in
    the input are replaced, so one bad line cannot stop the stream)."""
    import io
    import sys

    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=True)
    try:
        split_jsonl(stdin, stdout)
    finally:
        stdout.detach()
