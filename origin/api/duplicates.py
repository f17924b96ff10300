"""Near-duplicate clusters and what to do with them (DESIGN §6, README "Duplicates").

``GET /api/duplicates[?threshold=N]`` (scope ``read``): clusters with a suggested keeper.
``POST /api/duplicates/keep`` ``{"keep": id, "remove": [ids]}`` (scope ``delete``):
merge tags and texts into the keeper, delete the others.
``POST /api/duplicates/dismiss`` ``{"ids": [ids]}`` (scope ``write``): "not
duplicates", remembered so the pairs are never proposed again.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer.annotations import tags_of
from indexer.catalog import get_image
from indexer.clusters import find_clusters
from indexer.db import connect
from indexer.errors import BadRequest, NotFound
from indexer.resolve import KeepResult, dismiss, keep_one
from origin.api.bodies import read_json
from origin.api.present import present_image
from origin.auth import require
from origin.services import Services

MAX_IDS = 1000


def parse_threshold(params: dict[str, str]) -> int | None:
    unknown = sorted(set(params) - {"threshold"})
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0][:40]!r}")
    if "threshold" not in params:
        return None
    text = params["threshold"]
    if not text.isdigit() or not 0 <= int(text) <= 64:
        raise BadRequest(f"invalid threshold {text[:20]!r}: expected 0..64 (pHash bits)")
    return int(text)


async def clusters(request: Request) -> Response:
    await require(request, "read")
    services: Services = request.app.state.services
    threshold = parse_threshold(dict(request.query_params.items()))
    ingest = services.settings.ingest
    found = await run_in_threadpool(find_clusters, services.db, ingest, threshold)
    return JSONResponse(
        {
            "threshold": ingest.near_duplicate_threshold if threshold is None else threshold,
            "dhash_threshold": ingest.near_duplicate_dhash_threshold,
            "clusters": [cluster.as_json() for cluster in found],
        }
    )


def _id_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise BadRequest(f"{name}: expected a list of at most {MAX_IDS} image ids")
    return [str(item) if isinstance(item, str) else repr(item) for item in value]


def _object(body: object, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:40]!r}")
    return body


async def keep(request: Request) -> Response:
    await require(request, "delete")
    services: Services = request.app.state.services
    body = _object(await read_json(request), {"keep", "remove"})
    keeper = body.get("keep")
    if not isinstance(keeper, str):
        raise BadRequest("keep: expected the id of the image to keep")
    remove = _id_list(body, "remove")
    result = await run_in_threadpool(_keep, services, keeper, remove)
    record = get_image(services.db, result.keeper)
    if record is None:  # deleted by another request a moment ago
        raise NotFound(f"unknown image id {result.keeper}")
    tags = tags_of(services.db, [record.id])[record.id]
    return JSONResponse(
        {
            "keeper": result.keeper,
            "removed": list(result.removed),
            "merged_tags": result.merged_tags,
            "image": present_image(request, record, tags),
        }
    )


def _keep(services: Services, keeper: str, remove: list[str]) -> KeepResult:
    with closing(connect(services.layout.database)) as connection:
        return keep_one(connection, services.layout, keeper, remove)


async def not_duplicates(request: Request) -> Response:
    await require(request, "write")
    services: Services = request.app.state.services
    ids = _id_list(_object(await read_json(request), {"ids"}), "ids")
    pairs = await run_in_threadpool(_dismiss, services, ids)
    return JSONResponse({"dismissed_pairs": pairs})


def _dismiss(services: Services, ids: list[str]) -> int:
    with closing(connect(services.layout.database)) as connection:
        return dismiss(connection, ids)
