"""Prometheus metrics.

Several Hypercorn worker processes serve requests, so ``pictor serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` (inside the data directory) before they start; then
prometheus-client writes every counter, histogram and gauge to shared files and
``/metrics`` adds them up, whichever worker answers the scrape.  Without it (a single
process, unit tests) the default in-process registry is used.

Values that are facts about the disk or the database rather than events (cache files
and bytes, free disk, AI jobs by state) are read at scrape time by
:class:`ScrapeCollector`, so every worker reports the same truth and nothing needs to
be kept in sync.

Hits served by Nginx never reach Python: ``pictor_cache_hits_total`` counts only the
hits the origin itself served (embedded mode, or a file that appeared while a request
was on its way).  The hit ratio of the whole server comes from the access log
(``pictor report``).
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from indexer.config import Settings
from indexer.db import connect
from indexer.errors import PictorError
from indexer.janitor import CacheUsage, cache_usage
from indexer.layout import DataLayout

REQUESTS = Counter(
    "pictor_requests_total",
    "HTTP requests answered by the origin, by route class and status",
    ["route", "status"],
)
RENDERS = Counter("pictor_renders_total", "Variants rendered, by output format", ["format"])
RENDER_SECONDS = Histogram(
    "pictor_render_seconds",
    "Time to render one variant, by output format",
    ["format"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10),
)
RENDERS_IN_PROGRESS = Gauge(
    "pictor_renders_in_progress", "Renders running now", multiprocess_mode="livesum"
)
RENDER_QUEUE = Gauge(
    "pictor_render_queue",
    "Distinct renders pending (running or queued)",
    multiprocess_mode="livesum",
)
RENDER_REJECTED = Counter("pictor_render_rejected_total", "Misses refused with 503 (queue full)")
CACHE_HITS = Counter(
    "pictor_cache_hits_total",
    "Variants served from disk by the origin (Nginx hits are not counted: see pictor report)",
)
CACHE_MISSES = Counter("pictor_cache_misses_total", "Variants rendered on request")
CACHE_WRITES_SKIPPED = Counter(
    "pictor_cache_writes_skipped_total",
    "Rendered variants not written to disk, by reason (budget 0, low disk)",
    ["reason"],
)
SIGNATURE_FAILURES = Counter("pictor_signature_failures_total", "Refused signatures")
UPLOADS = Counter("pictor_uploads_total", "Uploads by result", ["result"])
UPLOADS_IN_PROGRESS = Gauge(
    "pictor_uploads_in_progress",
    "Uploads holding a slot (receiving or storing)",
    multiprocess_mode="livesum",
)
UPLOADS_WAITING = Gauge(
    "pictor_uploads_waiting", "Uploads waiting for a slot", multiprocess_mode="livesum"
)
UPLOAD_RESULTS = {
    201: "created", 400: "bad_request", 401: "unauthorized", 403: "forbidden",
    409: "duplicate", 413: "too_large", 415: "unsupported", 422: "unprocessable",
    503: "overloaded",
}
Handler = Callable[[Request], Awaitable[Response]]


def counts_uploads(handler: Handler) -> Handler:
    """Decorates the upload endpoint: every call counts once, by result."""

    @functools.wraps(handler)
    async def counted(request: Request) -> Response:
        try:
            response = await handler(request)
        except PictorError as error:
            UPLOADS.labels(UPLOAD_RESULTS.get(error.status, "other")).inc()
            raise
        except Exception:
            UPLOADS.labels("error").inc()
            raise
        UPLOADS.labels(UPLOAD_RESULTS.get(response.status_code, "other")).inc()
        return response

    return counted


def exposition(settings: Settings) -> tuple[bytes, str]:
    """The text to serve at ``/metrics`` (blocking: walks the cache; call it in a thread)."""
    scraped = CollectorRegistry()
    scraped.register(ScrapeCollector(settings))
    return generate_latest(events()) + generate_latest(scraped), CONTENT_TYPE_LATEST


def events() -> CollectorRegistry:
    """Counters, histograms and gauges of every worker (or of this process alone)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render_latency() -> dict[str, dict[str, float]]:
    """Renders and their mean seconds by output format, over every worker (for
    ``/api/status``; the histogram itself is on ``/metrics``)."""
    totals: dict[str, dict[str, float]] = {}
    for family in events().collect():
        if family.name != "pictor_render_seconds":
            continue
        for sample in family.samples:
            kind = sample.name.removeprefix("pictor_render_seconds_")
            if kind in ("count", "sum"):
                totals.setdefault(sample.labels["format"], {})[kind] = sample.value
    return {
        fmt: {"renders": int(t["count"]), "mean_seconds": round(t["sum"] / t["count"], 4)}
        for fmt, t in sorted(totals.items()) if t.get("count")
    }


def cache_counts() -> tuple[float, float]:
    """(hits, misses) the origin served, over every worker, since start."""
    totals = {"pictor_cache_hits_total": 0.0, "pictor_cache_misses_total": 0.0}
    for family in events().collect():
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals["pictor_cache_hits_total"], totals["pictor_cache_misses_total"]


class ScrapeCollector(Collector):
    """Gauges read from the disk and the database at scrape time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = DataLayout.at(settings.data_dir)

    def collect(self) -> Iterator[Metric]:
        usage = CACHE_USAGE.get(self.layout.cache)
        yield _gauge("pictor_cache_files", "Variant files in data/cache", usage.files)
        yield _gauge("pictor_cache_bytes", "Bytes of variant files in data/cache", usage.bytes)
        yield _gauge(
            "pictor_cache_budget_bytes", "cache.max_bytes (0 = variants are not kept)",
            self.settings.cache.max_bytes,
        )
        yield _gauge(
            "pictor_disk_free_bytes", "Free bytes on the data directory's file system",
            shutil.disk_usage(self.layout.root).free,
        )
        yield from self._database_gauges()

    def _database_gauges(self) -> Iterator[Metric]:
        try:
            connection = connect(self.layout.database, readonly=True)
        except sqlite3.Error:
            return  # /readyz reports an unreachable database; the scrape still works
        try:
            images = connection.execute("SELECT count(*) FROM images").fetchone()[0]
            yield _gauge("pictor_images", "Images in the index", images)
            jobs = GaugeMetricFamily("pictor_ai_jobs", "AI jobs by state", labels=["state"])
            for state, count in jobs_by_state(connection).items():
                jobs.add_metric([state], count)
            yield jobs
        finally:
            connection.close()


class ReusedUsage:
    """Walking the cache costs a few microseconds per file.  A walk's result is reused
    for ten times as long as the walk took, so scrapes spend at most ~10 % of the time
    walking however big the cache grows, while a small cache is counted afresh on every
    scrape (its walk takes milliseconds)."""

    REUSE_FACTOR = 10

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._valid_until = 0.0
        self._usage = CacheUsage(0, 0)

    def get(self, root: Path) -> CacheUsage:
        with self._lock:
            now = time.monotonic()
            if now < self._valid_until:
                return self._usage
            self._usage = cache_usage(root)
            took = time.monotonic() - now
            self._valid_until = now + took * (1 + self.REUSE_FACTOR)
            return self._usage


CACHE_USAGE = ReusedUsage()


def jobs_by_state(connection: sqlite3.Connection) -> dict[str, int]:
    """Counts from the ``jobs`` table (sql/0003_jobs.sql), or nothing before it exists."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(jobs)")}
    column = next((name for name in ("state", "status") if name in columns), None)
    if column is None:
        return {}
    rows = connection.execute(f"SELECT {column}, count(*) FROM jobs GROUP BY {column}")  # noqa: S608
    return {str(state): int(count) for state, count in rows}


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
