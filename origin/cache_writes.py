"""Whether a freshly rendered variant is written to ``data/cache``.

Not with a budget of 0 (``cache.max_bytes = 0``: every request renders), and not while
free disk is below ``cache.min_free_bytes``: the variant is still rendered and served,
so a filling disk degrades speed, never availability.
"""

from __future__ import annotations

from indexer.config import Settings
from indexer.janitor import FreeSpaceGuard
from indexer.layout import DataLayout
from origin import metrics

_FREE_SPACE = FreeSpaceGuard()


def keep_variant(settings: Settings, layout: DataLayout) -> bool:
    cache = settings.cache
    if cache.max_bytes == 0:
        metrics.CACHE_WRITES_SKIPPED.labels("budget").inc()
        return False
    if not _FREE_SPACE.room_for_variants(layout.cache, cache.min_free_bytes):
        metrics.CACHE_WRITES_SKIPPED.labels("low_disk").inc()
        return False
    return True
