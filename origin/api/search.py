"""``GET /api/search`` and ``GET /api/images/{id}/similar`` (scope ``read``).

``mode=text`` (default) is FTS5 in this process.  ``semantic`` asks the AI worker
(CLIP's text encoder and the embedding matrix live only there) and answers 503 naming
the reason when it cannot.  ``hybrid`` fuses both by reciprocal rank with exact tag
matches first; without the worker it still answers, from the text side, and says so
in ``notice``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer import ai_service
from indexer.annotations import tags_of
from indexer.catalog import get_image
from indexer.embeddings import Scored
from indexer.errors import BadRequest, NotFound, Unavailable
from indexer.layout import is_image_id
from indexer.search import Hit, exact_tag_matches, hybrid, text_search
from origin.api.present import present_image
from origin.auth import require
from origin.services import Services

MODES = ("text", "semantic", "hybrid")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_LENGTH = 500
SEARCH_PARAMETERS = frozenset({"q", "mode", "limit"})
SIMILAR_PARAMETERS = frozenset({"limit"})


@dataclass(frozen=True)
class SearchQuery:
    text: str
    mode: str
    limit: int


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
    if mode not in MODES:
        raise BadRequest(f"invalid mode {mode[:20]!r}: expected one of {', '.join(MODES)}")
    text = params.get("q", "").strip()
    if not text:
        raise BadRequest("q: give some text to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(f"q: longer than {MAX_QUERY_LENGTH} characters")
    return SearchQuery(text, mode, parse_limit(params))


def run_search(services: Services, query: SearchQuery) -> tuple[list[Hit], str | None]:
    """Ranked hits and, for a degraded hybrid search, a notice saying why."""
    db, ai = services.db, services.settings.ai
    if query.mode == "text":
        return text_search(db, query.text, query.limit), None
    if query.mode == "semantic":
        return _as_hits(_semantic(services, query.text, query.limit, ai.min_similarity)), None
    pool = query.limit * 2  # fuse from deeper lists than we return
    try:
        words = text_search(db, query.text, pool)
    except BadRequest:  # nothing FTS can search for (emoji only): the semantic side may
        words = []
    notice = None
    try:
        semantic = _as_hits(_semantic(services, query.text, pool, ai.min_similarity))
    except Unavailable as error:
        semantic, notice = [], f"text results only: {error.public}"
    exact = exact_tag_matches(db, query.text, pool)
    return hybrid(words, semantic, exact, query.limit), notice


def _semantic(services: Services, text: str, limit: int, minimum: float) -> list[Scored]:
    return ai_service.semantic_search(services.layout, services.db, text, limit, minimum)


def _as_hits(scored: Sequence[Scored]) -> list[Hit]:
    return [Hit(s.image_id, s.similarity) for s in scored]


def present_hits(
    request: Request, db: sqlite3.Connection, hits: Sequence[Hit], key: str
) -> list[dict[str, Any]]:
    """Each hit as the API shows an image, plus its score under ``key``.  Ids deleted
    since they were ranked (the worker's matrix lags deletes) are skipped."""
    records = [(hit, get_image(db, hit.image_id)) for hit in hits]
    found = [(hit, record) for hit, record in records if record is not None]
    tags = tags_of(db, [record.id for _, record in found])
    return [
        {**present_image(request, record, tags[record.id]), key: hit.score}
        for hit, record in found
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
        present_hits, request, services.db, _as_hits(scored), "similarity"
    )
    return JSONResponse({"id": record.id, "results": results})
