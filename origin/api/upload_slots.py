"""How many uploads one worker receives and stores at once, and how many may wait.

A slot is taken *before* the body is read: a decoded 50-megapixel photo takes ~200 MB
and its body up to ``limits.max_upload_bytes``, so the slots bound the memory of a
burst.  Waiting happens on the event loop (an ``asyncio.Semaphore``), never in the
thread pool, where a blocked upload would hold one of anyio's worker threads that every
other ``run_in_threadpool`` call needs.  Beyond ``limits.upload_queue`` waiters the
upload is refused with 503 and ``Retry-After`` instead of queueing without end; a
waiter costs a connection, not its body, which is still unread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from indexer.config import LimitSettings
from indexer.errors import Overloaded
from origin import metrics

RETRY_AFTER_SECONDS = 2


class UploadSlots:
    def __init__(self, slots: int, queue: int) -> None:
        self.slots = slots
        self.queue = queue
        self.waiting = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_limits(cls, limits: LimitSettings) -> UploadSlots:
        return cls(limits.upload_slots or (os.cpu_count() or 1), limits.upload_queue)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``with``; raise Overloaded when all slots
        are taken and ``queue`` uploads already wait."""
        semaphore = self._semaphore_of_this_loop()
        if semaphore.locked() and self.waiting >= self.queue:
            raise Overloaded("too many uploads at once, retry shortly",
                             retry_after=RETRY_AFTER_SECONDS)
        self.waiting += 1
        metrics.UPLOADS_WAITING.inc()
        try:
            await semaphore.acquire()
        finally:
            self.waiting -= 1
            metrics.UPLOADS_WAITING.dec()
        metrics.UPLOADS_IN_PROGRESS.inc()
        try:
            yield
        finally:
            metrics.UPLOADS_IN_PROGRESS.dec()
            semaphore.release()

    def _semaphore_of_this_loop(self) -> asyncio.Semaphore:
        # Created on first use inside the loop that serves the requests (a semaphore
        # belongs to one loop; in-process test clients may start several in turn).
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop, self.waiting = asyncio.Semaphore(self.slots), loop, 0
        return self._semaphore
