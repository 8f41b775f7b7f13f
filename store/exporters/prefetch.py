"""An ordered, bounded parallel map: results come back in input order, at most `window` items in flight.

Exports read blobs (disk or S3) and decode, crop and encode images; file reads, network waits and
Pillow release the GIL, so a few threads overlap that work with the writer while the output keeps the
deterministic input order. Items travel in chunks, so the cost of a future is paid per chunk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 4, window: int = 256,
                chunk: int = 16) -> Iterator[R]:
    if workers <= 1:
        yield from map(fn, items)
        return
    chunk = max(1, min(chunk, window // workers or 1))

    def run(batch: list[T]) -> list[R]:
        return [fn(item) for item in batch]

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export")
    pending: deque[Future] = deque()
    iterator = iter(items)
    try:
        while True:
            batch = list(islice(iterator, chunk))
            if not batch:
                break
            pending.append(pool.submit(run, batch))
            if len(pending) * chunk >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
