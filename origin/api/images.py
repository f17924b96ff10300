"""``/api/images``: upload, list, show, edit and delete images (DESIGN §6).

Scopes: ``write`` to upload and edit, ``read`` to list and show, ``delete`` to delete.
Each handler does all its blocking work (decoding, hashing, fsyncs, file removal, and
the SQLite reads too: a ``q=`` LIKE scan, the near-duplicate index that reloads after a
delete) in one thread-pool hop, on a connection of its own per call: two requests'
transactions never interleave, and the worker's shared ``services.db`` stays with the
event loop.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer.annotations import UNSET, Edit, Tag, apply_edit, tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.db import connect
from indexer.drafts import Source, field_sources
from indexer.duplicates import near_duplicates
from indexer.errors import BadRequest, NotFound, UnsupportedMedia
from indexer.ingest import Upload, ingest
from indexer.layout import is_image_id
from indexer.listing import ImagePage, ImageQuery, list_images
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


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@metrics.counts_uploads
async def create(request: Request) -> Response:
    await require(request, "write")
    services = services_of(request)
    # The slot is taken before the body is read, so waiting uploads hold neither their
    # body in memory nor a worker thread (origin/api/upload_slots.py).
    async with services.upload_slots.slot():
        received = await receive_upload(request, services.settings.limits.max_upload_bytes)
        if not received.data:
            raise UnsupportedMedia("the file is empty (zero bytes): not an image")
        detail = await run_in_threadpool(_store, services, received)
    headers = {"Location": image_location(detail.record.id)}
    return JSONResponse(detail.present(request), status_code=201, headers=headers)


async def index(request: Request) -> Response:
    await require(request, "read")
    query = parse_list_query(dict(request.query_params.items()))
    page, tags = await run_in_threadpool(_list, services_of(request), query)
    images = [present_image(request, record, tags[record.id]) for record in page.images]
    return JSONResponse({"images": images, "next_cursor": page.next_cursor})


async def show(request: Request) -> Response:
    await require(request, "read")
    detail = await run_in_threadpool(_show, services_of(request), _path_id(request))
    return JSONResponse(detail.present(request))


async def edit(request: Request) -> Response:
    await require(request, "write")
    image_id = _path_id(request)
    changes = parse_fields(await read_json(request)).to_edit()
    detail = await run_in_threadpool(_apply, services_of(request), image_id, changes)
    return JSONResponse(detail.present(request))


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


@dataclass(frozen=True)
class Detail:
    """What the detail view shows, read in one thread hop; presented on the loop."""

    record: ImageRecord
    tags: list[Tag]
    near_duplicates: list[dict[str, Any]]
    sources: dict[str, Source]

    def present(self, request: Request) -> dict[str, Any]:
        document = present_image(request, self.record, self.tags, self.near_duplicates)
        return {**document, "title_source": self.sources["title"],
                "alt_source": self.sources["alt"]}


def load_detail(connection: sqlite3.Connection, services: Services, image_id: str) -> Detail:
    """Blocking: the near-duplicate lookup may reload the whole hash index after a
    delete (indexer/hash_index.py), so call this in the thread pool only."""
    record = get_image(connection, image_id)
    if record is None:
        raise NotFound(f"unknown image id {image_id}")
    found = near_duplicates(connection, image_id, services.settings.ingest)
    return Detail(
        record=record,
        tags=tags_of(connection, [image_id])[image_id],
        near_duplicates=[duplicate.as_json() for duplicate in found],
        sources=field_sources(connection, image_id),
    )


def _path_id(request: Request) -> str:
    image_id = str(request.path_params["image_id"])
    if not is_image_id(image_id):
        raise NotFound(f"unknown image id {image_id[:40]!r}")
    return image_id


def _reader(services: Services) -> closing[sqlite3.Connection]:
    """A read connection of the calling thread's own: ``services.db`` belongs to the
    event loop and a sqlite3 connection must not be used by two threads at once."""
    return closing(connect(services.layout.database, readonly=True))


def _list(services: Services, query: ImageQuery) -> tuple[ImagePage, dict[str, list[Tag]]]:
    with _reader(services) as connection:
        page = list_images(connection, query)
        return page, tags_of(connection, [record.id for record in page.images])


def _show(services: Services, image_id: str) -> Detail:
    with _reader(services) as connection:
        return load_detail(connection, services, image_id)


def _store(services: Services, received: ReceivedUpload) -> Detail:
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
    with closing(connect(services.layout.database)) as connection:
        record = ingest(connection, services.layout, services.settings, upload)
        if fields.tags:
            apply_edit(connection, record.id, Edit(tags=tuple(fields.tags)))
        return load_detail(connection, services, record.id)


def _apply(services: Services, image_id: str, changes: Edit) -> Detail:
    with closing(connect(services.layout.database)) as connection:
        if not apply_edit(connection, image_id, changes):
            raise NotFound(f"unknown image id {image_id}")
        if changes.focal is not UNSET:
            forget_focal_variants(services.layout, image_id)
        return load_detail(connection, services, image_id)


def _remove(services: Services, image_id: str) -> None:
    with closing(connect(services.layout.database)) as connection:
        remove_image(connection, services.layout, image_id)
