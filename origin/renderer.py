"""Bounded rendering: a thread pool sized to the cores and a bounded queue.

Pillow releases the GIL while decoding, resampling and encoding, so threads give real
parallelism.  Identical concurrent misses in this process share one render (an
in-process future); across processes a lock file does the same (``variants.render_once``).
When more distinct renders are pending than the pool plus the queue can hold, the
request is refused at once with 503 + Retry-After instead of piling up in memory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexer.errors import Overloaded
from origin import metrics


class Renderer:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.capacity = self.threads + queue
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="render")
        self._pending: dict[Path, asyncio.Future[bytes | None]] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, target: Path, work: Callable[[], bytes | None], fmt: str) -> bytes | None:
        """Run ``work`` for ``target`` once, however many requests ask at the same time."""
        if (shared := self._pending.get(target)) is not None:
            return await asyncio.shield(shared)
        if len(self._pending) >= self.capacity:
            metrics.RENDER_REJECTED.inc()
            raise Overloaded("renderer is busy, retry shortly", retry_after=1)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, _timed, work, fmt)
        self._pending[target] = future
        metrics.RENDER_QUEUE.inc()
        try:
            return await asyncio.shield(future)
        finally:
            if self._pending.get(target) is future:
                del self._pending[target]
                metrics.RENDER_QUEUE.dec()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)


def _timed(work: Callable[[], bytes | None], fmt: str) -> bytes | None:
    started = time.perf_counter()
    with metrics.RENDERS_IN_PROGRESS.track_inprogress():
        result = work()
    if result is not None:
        metrics.RENDERS.labels(fmt).inc()
        metrics.RENDER_SECONDS.labels(fmt).observe(time.perf_counter() - started)
    return result
