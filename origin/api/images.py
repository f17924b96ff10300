"""``/api/images``: upload, list, show, edit and delete images (DESIGN §6).

Scopes: ``write`` to upload and edit, ``read`` to list and show, ``delete`` to delete.
Decoding, hashing, fsyncs and file removal run in the thread pool; SQLite writes use a
connection of their own per call, so two requests' transactions never interleave on
the worker's shared read connection.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import closing
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer.annotations import UNSET, Edit, apply_edit, tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.db import connect
from indexer.drafts import field_sources
from indexer.duplicates import near_duplicates
from indexer.errors import BadRequest, NotFound, UnsupportedMedia
from indexer.ingest import Upload, ingest
from indexer.layout import is_image_id
from indexer.listing import ImageQuery, list_images
from indexer.removal import forget_focal_variants, remove_image
from origin import metrics
from origin.api.bodies import read_json
from origin.api.fields import normalize_tag, parse_fields
from origin.api.present import image_location, present_image
from origin.api.uploads import ReceivedUpload, receive_upload
from origin.auth import require
from origin.services import Services

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
LIST_PARAMETERS = frozenset({"tag", "q", "format", "limit", "cursor"})
MAX_FILTER_LENGTH = 200
_FORMAT = re.compile(r"^[a-z0-9]{1,16}$")
_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff", "heic": "heif"}
# A decoded 50-megapixel photo takes ~200 MB; bound how many are decoded at once per
# worker so that a burst of uploads queues instead of exhausting memory.
_INGEST_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 1)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@metrics.counts_uploads
async def create(request: Request) -> Response:
    await require(request, "write")
    services = services_of(request)
    received = await receive_upload(request, services.settings.limits.max_upload_bytes)
    if not received.data:
        raise UnsupportedMedia("the file is empty (zero bytes): not an image")
    image_id = await run_in_threadpool(_store, services, received)
    body = _detail(request, _existing(services, image_id))
    return JSONResponse(body, status_code=201, headers={"Location": image_location(image_id)})


async def index(request: Request) -> Response:
    await require(request, "read")
    services = services_of(request)
    page = list_images(services.db, parse_list_query(dict(request.query_params.items())))
    tags = tags_of(services.db, [record.id for record in page.images])
    images = [present_image(request, record, tags[record.id]) for record in page.images]
    return JSONResponse({"images": images, "next_cursor": page.next_cursor})


async def show(request: Request) -> Response:
    await require(request, "read")
    return JSONResponse(_detail(request, _existing(services_of(request), _path_id(request))))


async def edit(request: Request) -> Response:
    await require(request, "write")
    services = services_of(request)
    image_id = _path_id(request)
    changes = parse_fields(await read_json(request)).to_edit()
    if not await run_in_threadpool(_apply, services, image_id, changes):
        raise NotFound(f"unknown image id {image_id}")
    return JSONResponse(_detail(request, _existing(services, image_id)))


async def remove(request: Request) -> Response:
    await require(request, "delete")
    await run_in_threadpool(_remove, services_of(request), _path_id(request))
    return Response(status_code=204)


def parse_list_query(params: dict[str, str]) -> ImageQuery:
    unknown = sorted(set(params) - LIST_PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}")
    limit_text = params.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise BadRequest(f"invalid limit {limit_text[:20]!r}: expected 1..{MAX_LIMIT}")
    for name in ("tag", "q"):
        if len(params.get(name, "")) > MAX_FILTER_LENGTH:
            raise BadRequest(f"invalid {name}: longer than {MAX_FILTER_LENGTH} characters")
    fmt = params.get("format", "").lower()
    if "format" in params and not _FORMAT.match(fmt):
        raise BadRequest(f"invalid format {fmt[:20]!r}: expected e.g. jpeg, png, webp")
    return ImageQuery(
        tag=normalize_tag(params.get("tag", "")),
        q=params.get("q", "").strip(),
        format=_FORMAT_ALIASES.get(fmt, fmt),
        cursor=params.get("cursor", ""),
        limit=int(limit_text),
    )


def near_duplicates_of(services: Services, image_id: str) -> list[dict[str, Any]]:
    """Near-duplicates for the detail view (indexer/duplicates.py), nearest first."""
    found = near_duplicates(services.db, image_id, services.settings.ingest)
    return [duplicate.as_json() for duplicate in found]


def _detail(request: Request, record: ImageRecord) -> dict[str, Any]:
    services = services_of(request)
    tags = tags_of(services.db, [record.id])[record.id]
    document = present_image(request, record, tags, near_duplicates_of(services, record.id))
    sources = field_sources(services.db, record.id)
    return {**document, "title_source": sources["title"], "alt_source": sources["alt"]}


def _path_id(request: Request) -> str:
    image_id = str(request.path_params["image_id"])
    if not is_image_id(image_id):
        raise NotFound(f"unknown image id {image_id[:40]!r}")
    return image_id


def _existing(services: Services, image_id: str) -> ImageRecord:
    record = get_image(services.db, image_id)
    if record is None:
        raise NotFound(f"unknown image id {image_id}")
    return record


def _store(services: Services, received: ReceivedUpload) -> str:
    """Ingest (durable original, committed row), then the uploader's tags."""
    fields = received.fields
    upload = Upload(
        data=received.data,
        filename=received.filename,
        title=fields.title or "",
        alt=fields.alt or "",
        description=fields.description or "",
        focal=(fields.focal.x, fields.focal.y) if fields.focal else None,
    )
    with _INGEST_SLOTS, closing(connect(services.layout.database)) as connection:
        record = ingest(connection, services.layout, services.settings, upload)
        if fields.tags:
            apply_edit(connection, record.id, Edit(tags=tuple(fields.tags)))
    return record.id


def _apply(services: Services, image_id: str, changes: Edit) -> bool:
    with closing(connect(services.layout.database)) as connection:
        applied = apply_edit(connection, image_id, changes)
    if applied and changes.focal is not UNSET:
        forget_focal_variants(services.layout, image_id)
    return applied


def _remove(services: Services, image_id: str) -> None:
    with closing(connect(services.layout.database)) as connection:
        remove_image(connection, services.layout, image_id)
