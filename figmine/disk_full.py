"""A full disk as one clear line: which file could not be written, and what to do.

A write that runs out of space raises `OSError(ENOSPC)` (`EDQUOT` for a quota), and most of them
(`file.write`, `os.fsync`) do not say which file; some libraries' writers do not even say why (nmslib's
C++ streams raise `RuntimeError("basic_ios::clear: iostream error")`). The places that write figmine's
files (blob store, knowledge-base cache, export output) wrap their writes in `writing(path)`, which
turns either into `DiskFull` naming the path: the OSError by its errno, any other error when the
file system it was writing to has (almost) no room left. `report_disk_full` is the command line's
last stop: a full disk (ours, or the database server's) ends the command with that one line on stderr
and exit status 1, not a traceback.
"""

from __future__ import annotations

import errno
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Below this much free space, a writer's failure that gives no errno is taken for a full disk.
NEARLY_FULL_BYTES = 1 << 20


class DiskFull(OSError):
    """No space left on the device (or quota) where figmine was writing `filename`."""

    def __init__(self, path: Path | str, code: int = errno.ENOSPC):
        super().__init__(code, "no space left on device", str(path))

    def __str__(self) -> str:
        return f"no space left on device writing {self.filename}; free space and run again"

    def __reduce__(self):  # pickled across worker processes with its own arguments, not OSError's
        return (DiskFull, (self.filename, self.errno))


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def nearly_full(path: Path | str) -> bool:
    """Whether the file system that holds `path` (or its nearest existing parent) is (almost) full."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return shutil.disk_usage(where).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def as_disk_full(exc: BaseException, path: Path | str) -> BaseException:
    """`exc` as a `DiskFull` naming `path` when it comes from a full disk, else `exc` itself. Call it
    before cleaning up the half-written files, which frees the space it looks at."""
    if isinstance(exc, DiskFull) or not isinstance(exc, Exception):
        return exc
    if is_disk_full(exc):
        full = DiskFull(path, exc.errno)
    elif (not isinstance(exc, OSError) or exc.errno is None) and nearly_full(path):
        full = DiskFull(path)
    else:
        return exc
    full.__cause__ = exc
    return full


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Writes to `path` (a file, or a folder being filled) inside the block: a full disk → `DiskFull(path)`."""
    try:
        yield
    except Exception as exc:
        full = as_disk_full(exc, path)
        if full is exc:
            raise
        raise full from exc


def disk_full_message(exc: BaseException) -> str | None:
    """The one line for a full disk anywhere in `exc`'s chain (a library may wrap the OSError), else None."""
    from psycopg import errors

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return str(current)
        if is_disk_full(current):
            return str(DiskFull(current.filename or "a file"))
        if isinstance(current, errors.DiskFull):  # SQLSTATE 53100, through SQLAlchemy's wrapper
            first_line = str(current).strip().splitlines()[0]
            return f"the database server has no space left on its disk ({first_line}); free space and run again"
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def report_disk_full() -> None:
    """Make an uncaught full-disk error end the process with its one line (exit status 1)."""
    previous = sys.excepthook
    if getattr(previous, "reports_disk_full", False):
        return

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        message = disk_full_message(exc)
        if message is None:
            previous(kind, exc, tb)
        else:
            print(f"figmine: {message}", file=sys.stderr)

    hook.reports_disk_full = True  # type: ignore[attr-defined]
    sys.excepthook = hook
