"""``GET /api/search`` and ``GET /api/images/{id}/similar`` (scope ``read``).

The ranking itself (text, semantic through the AI worker, hybrid with its fallback to
text) is :func:`indexer.searching.run_search`, shared with ``pictor search`` and the
admin Library page; this module parses the HTTP parameters and presents the hits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer import ai_service, searching
from indexer.catalog import get_image
from indexer.errors import BadRequest, NotFound
from indexer.layout import is_image_id
from indexer.search import Hit

# Re-exported: origin.admin.searching imports these names from here.
from indexer.searching import MODES as MODES
from indexer.searching import SearchQuery as SearchQuery
from origin.api.present import present_image
from origin.auth import require
from origin.services import Services

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SEARCH_PARAMETERS = frozenset({"q", "mode", "limit"})
SIMILAR_PARAMETERS = frozenset({"limit"})


def parse_limit(params: dict[str, str]) -> int:
    text = params.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"invalid limit {text[:20]!r}: expected 1..{MAX_LIMIT}")
    return int(text)


def _no_unknown(params: dict[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0][:40]!r}")


def parse_search_query(params: dict[str, str]) -> SearchQuery:
    _no_unknown(params, SEARCH_PARAMETERS)
    mode = params.get("mode", "text")
    searching.check_mode(mode)  # before the text, so a bad mode is named first
    return searching.make_query(params.get("q", ""), mode, parse_limit(params))


def run_search(services: Services, query: SearchQuery) -> tuple[list[Hit], str | None]:
    """:func:`indexer.searching.run_search` over this process's services."""
    return searching.run_search(services.db, services.layout, services.settings.ai, query)


def present_hits(
    request: Request, db: sqlite3.Connection, hits: Sequence[Hit], key: str
) -> list[dict[str, Any]]:
    """Each hit as the API shows an image, plus its score under ``key``."""
    return [
        {**present_image(request, found.record, found.tags), key: found.hit.score}
        for found in searching.found_images(db, hits)
    ]


async def search(request: Request) -> Response:
    await require(request, "read")
    services: Services = request.app.state.services
    query = parse_search_query(dict(request.query_params.items()))
    hits, notice = await run_in_threadpool(run_search, services, query)
    results = await run_in_threadpool(present_hits, request, services.db, hits, "score")
    body: dict[str, Any] = {"query": query.text, "mode": query.mode, "results": results}
    if notice:
        body["notice"] = notice
    return JSONResponse(body)


async def similar(request: Request) -> Response:
    await require(request, "read")
    services: Services = request.app.state.services
    params = dict(request.query_params.items())
    _no_unknown(params, SIMILAR_PARAMETERS)
    limit = parse_limit(params)
    image_id = str(request.path_params["image_id"])
    record = get_image(services.db, image_id) if is_image_id(image_id) else None
    if record is None:
        raise NotFound(f"unknown image id {image_id[:40]!r}")
    scored = await run_in_threadpool(
        ai_service.similar_images,
        services.layout,
        services.db,
        record.id,
        limit,
        services.settings.ai.min_similarity,
    )
    results = await run_in_threadpool(
        present_hits, request, services.db, searching.as_hits(scored), "similarity"
    )
    return JSONResponse({"id": record.id, "results": results})
