"""Liveness, readiness, metrics and the status summary.

``/healthz`` answers as long as the process serves requests.  ``/readyz`` checks what a
request needs (the database opens and answers, the data directory takes writes, the
disk has ``cache.min_free_bytes`` free) and answers 503 naming every failed check, so a
load balancer stops sending traffic and an operator sees why.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer.config import Settings
from indexer.db import connect
from indexer.jobs import queue_status
from indexer.layout import DataLayout
from origin import metrics
from origin.report import recent_cache_ratio
from origin.services import Services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    problems = await run_in_threadpool(readiness_problems, services.settings)
    if problems:
        return JSONResponse({"status": "unready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def readiness_problems(settings: Settings) -> list[str]:
    layout = DataLayout.at(settings.data_dir)
    checks = (
        database_problem(layout.database),
        writable_problem(layout.root),
        free_disk_problem(layout.root, settings.cache.min_free_bytes),
    )
    return [problem for problem in checks if problem]


def database_problem(path: Path) -> str | None:
    """A fresh read-only connection: proves the file is there and readable now."""
    if not path.is_file():
        return f"database {path.name} is missing"
    try:
        connection = connect(path, readonly=True)
        try:
            connection.execute("SELECT count(*) FROM _migrations").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        return f"database {path.name} is not readable: {error}"
    return None


def writable_problem(directory: Path) -> str | None:
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".readyz-")
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        return f"data directory is not writable: {error.strerror or error}"
    return None


def free_disk_problem(directory: Path, min_free: int) -> str | None:
    try:
        free = shutil.disk_usage(directory).free
    except OSError as error:
        return f"cannot read free disk space: {error.strerror or error}"
    if free < min_free:
        return f"free disk {free} bytes is below cache.min_free_bytes {min_free}"
    return None


async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    body, content_type = await run_in_threadpool(metrics.exposition, services.settings)
    return Response(body, media_type=content_type)


async def status(request: Request) -> Response:
    services: Services = request.app.state.services
    return JSONResponse(await run_in_threadpool(status_document, services))


def status_document(services: Services) -> dict[str, Any]:
    """What ``GET /api/status`` answers (the admin Status page shows the same).

    Blocking (SQL, a walk of the cache, the access log's tail): call it in a thread."""
    row = services.db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM images").fetchone()
    usage = metrics.CACHE_USAGE.get(services.layout.cache)
    recent = recent_cache_ratio(services.layout.logs / "access.log")
    return {
        "uptime_seconds": round(time.time() - services.started, 1),
        "images": row[0],
        "original_bytes": row[1],
        "cache_files": usage.files,
        "cache_bytes": usage.bytes,
        "cache_budget_bytes": services.settings.cache.max_bytes,
        "hit_ratio": hit_ratio(recent),
        "cache_recent_requests": recent,  # from the access log: Nginx's hits too
        "render_latency": metrics.render_latency(),
        "render_queue": services.renderer.pending,
        "render_capacity": services.renderer.capacity,
        "ai": queue_status(services.db),  # worker state and job counts (indexer/jobs.py)
    }


def hit_ratio(recent: dict[str, Any] | None) -> float | None:
    """Cache hits among image requests, or None before the first one.

    Nginx answers hits without asking the origin, so when it runs (it writes the
    access log, also in docker compose, where the origin itself runs ``--no-nginx``)
    only its log sees them all: the ratio over the log's tail.  Without Nginx (no log)
    the origin serves every image request, and its counters, summed over every worker,
    see them all: the ratio since start."""
    if recent is not None:
        ratio: float | None = recent["hit_ratio"]
        return ratio
    hits, misses = metrics.cache_counts()
    return round(hits / (hits + misses), 4) if hits + misses else None
