"""The Status page: the ``/api/status`` document and the access-log report
(``pictor report``) for a chosen period, as tables a person reads at 3 a.m."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from indexer.errors import BadRequest
from origin.admin import gateway
from origin.admin.guard import page, services_of
from origin.admin.rendering import render

PERIODS = ("1h", "24h", "7d")
# Shown as headline figures when the status document has them; every other value is
# listed below them, so fields added to /api/status appear without a template change.
HEADLINES = (
    ("uptime_seconds", "Uptime", "duration"),
    ("images", "Images", "count"),
    ("original_bytes", "Originals", "bytes"),
    ("cache_files", "Cached variants", "count"),
    ("cache_bytes", "Cache size", "bytes"),
    ("hit_ratio", "Hit ratio", "ratio"),
    ("render_queue", "Renders queued", "count"),
)


@page
async def show(request: Request) -> Response:
    period = request.query_params.get("since", "24h")
    if period not in PERIODS:
        raise BadRequest(f"since: use one of {', '.join(PERIODS)}")
    services = services_of(request)
    document = await run_in_threadpool(gateway.status_document, services)
    layout = services.layout
    report, latency = await run_in_threadpool(gateway.traffic_report, layout, period)
    job_errors = await run_in_threadpool(gateway.recent_job_errors, services)
    headline_keys = {key for key, _, _ in HEADLINES} | {"ai"}
    return render(
        request,
        "status.html",
        {
            "headlines": [(label, kind, document[key]) for key, label, kind in HEADLINES
                          if document.get(key) is not None],
            "details": {k: v for k, v in document.items() if k not in headline_keys},
            "ai": document.get("ai"),
            "job_errors": job_errors,
            "report": report,
            "latency": latency,
            "period": period,
            "periods": PERIODS,
        },
    )
