"""bench/RESULTS.md: replace one "## " section in place (or append it), keeping every other section."""

from __future__ import annotations

import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, notes: str, command: str, text: str, results: Path = RESULTS) -> None:
    """Write `section` (its "## " heading) as: notes, the command line with today's date, the measured text."""
    body = f"{section}\n\n{notes}\n`{command.strip()}` ({time.strftime('%Y-%m-%d')})\n\n{text}\n"
    old = results.read_text(encoding="utf-8")
    if section in old:
        start = old.index(section)
        nxt = old.find("\n## ", start + len(section))
        old = old[:start] + body + (old[nxt + 1 :] if nxt != -1 else "")
    else:
        old = old.rstrip("\n") + "\n\n" + body
    results.write_text(old, encoding="utf-8")
