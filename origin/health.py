"""Liveness, metrics and the status summary."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from origin import metrics
from origin.services import Services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


async def status(request: Request) -> Response:
    services: Services = request.app.state.services
    row = services.db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM images").fetchone()
    return JSONResponse(
        {
            "uptime_seconds": round(time.time() - services.started, 1),
            "images": row[0],
            "original_bytes": row[1],
            "render_queue": services.renderer.pending,
            "render_capacity": services.renderer.capacity,
        }
    )
