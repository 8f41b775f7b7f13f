"""The local distributor: the stage tasks on a process pool of this machine (no broker needed).

A harvest's article references are cut into groups, each group one `stages.harvest_group` call in a
worker process, its articles fetched on that process's threads. Processes are what let parsing and
image work use every core (the GIL keeps threads to one); threads are what keep downloads
overlapping. `concurrency` articles are in flight in all: min(concurrency, cores) processes, the
rest as threads.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice

from pipeline.runner import HarvestRunner, RunSummary
from workers import stages


def pool_shape(concurrency: int, cores: int | None = None) -> tuple[int, int]:
    """(processes, threads per process) for `concurrency` articles in flight."""
    cores = cores or os.cpu_count() or 1
    processes = max(1, min(concurrency, cores))
    return processes, max(1, math.ceil(concurrency / processes))


def batched(iterable: Iterable, n: int) -> Iterator[list]:
    it = iter(iterable)
    while chunk := list(islice(it, n)):
        yield chunk


def harvest_on_pool(
    runner: HarvestRunner,
    refs: Iterable,
    params: dict,
    *,
    license_filter: str = "any",
    total: int | None = None,
    on_progress: Callable[[RunSummary, int | None], None] | None = None,
    run_id: int | None = None,
) -> RunSummary:
    """Run a remote harvest on a local process pool; the run row and progress as `runner.run` keeps them.

    `runner` gives the database and concurrency; its own threads are not used. The worker processes
    are started fresh (spawn), so nothing of this process (threads, connections) leaks into them.
    """
    runner.live_counts = True  # the workers' transactions count the items
    run_id = run_id or runner.start_run(params)
    processes, threads = pool_shape(runner.concurrency)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(processes, mp_context=context)
    futures = (
        pool.submit(stages.harvest_group, run_id, stages.refs_to_json(group), license_filter, threads=threads,
                    workdir=str(runner.workdir) if runner.workdir else None)
        for group in batched(refs, threads)
    )
    return runner.follow(run_id, futures, width=processes, total=total, on_progress=on_progress,
                         close=lambda: pool.shutdown(wait=True, cancel_futures=True))
