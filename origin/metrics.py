"""Prometheus metrics.

Several Hypercorn worker processes serve requests, so ``pictor serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` (inside the data directory) before they start; then
prometheus-client writes every value to shared files and ``/metrics`` adds them up.
Without it (tests, a single process) the default in-process registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "pictor_requests_total", "HTTP requests by route class and status", ["route", "status"]
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
CACHE_HITS = Counter("pictor_cache_hits_total", "Variants served from disk by the origin")
CACHE_MISSES = Counter("pictor_cache_misses_total", "Variants rendered on request")
SIGNATURE_FAILURES = Counter("pictor_signature_failures_total", "Refused signatures")
UPLOADS = Counter("pictor_uploads_total", "Uploads by result", ["result"])


def exposition() -> tuple[bytes, str]:
    """The text to serve at ``/metrics``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
