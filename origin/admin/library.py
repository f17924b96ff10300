"""The Library page: a grid of thumbnails, search, tag and format filters, paging."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from indexer.catalog import ImageRecord
from indexer.errors import BadRequest
from indexer.imaging import INPUT_FORMATS
from indexer.listing import ImageQuery, list_images
from origin.admin import searching
from origin.admin.guard import page, services_of
from origin.admin.links import thumbnail_url
from origin.admin.rendering import render
from origin.api.fields import MAX_TAG_LENGTH, normalize_tag

MAX_QUERY_LENGTH = 500
PAGE_SIZE = 48
POPULAR_TAGS = 30


@dataclass(frozen=True)
class Filters:
    tag: str = ""
    format: str = ""


def known_formats() -> list[str]:
    """Every format ingest accepts (a fixed list: ``SELECT DISTINCT`` would scan the table)."""
    return sorted(name.lower() for name in INPUT_FORMATS if name != "MPO")


def popular_tags(connection: sqlite3.Connection) -> list[str]:
    """The most used tags, offered as suggestions in the tag filter."""
    rows = connection.execute(
        "SELECT tag FROM tags GROUP BY tag ORDER BY count(*) DESC, tag LIMIT ?", (POPULAR_TAGS,)
    ).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class LibraryQuery:
    text: str
    mode: str
    filters: Filters
    cursor: str | None

    @classmethod
    def from_request(cls, request: Request) -> LibraryQuery:
        params = request.query_params
        text = params.get("q", "").strip()
        if len(text) > MAX_QUERY_LENGTH:
            raise BadRequest(f"search text longer than {MAX_QUERY_LENGTH} characters")
        mode = params.get("mode", "text") or "text"
        if mode not in searching.MODES:
            raise BadRequest(f"unknown search mode {mode[:20]!r}: use text, semantic or hybrid")
        fmt = params.get("format", "").lower()
        if fmt and fmt not in known_formats():
            raise BadRequest(f"unknown format {fmt[:20]!r}")
        filters = Filters(tag=normalize_tag(params.get("tag", ""))[:MAX_TAG_LENGTH], format=fmt)
        return cls(text, mode, filters, params.get("cursor") or None)

    def link(self, **changes: str | None) -> str:
        values = {"q": self.text, "mode": self.mode if self.text else "",
                  "tag": self.filters.tag, "format": self.filters.format, **changes}
        return "/admin?" + urlencode({key: value for key, value in values.items() if value})


@page
async def library(request: Request) -> Response:
    services = services_of(request)
    query = LibraryQuery.from_request(request)
    if query.text:
        found = await run_in_threadpool(
            searching.search, services, query.text, query.mode, query.filters.tag,
            query.filters.format,
        )
        tiles, next_cursor, notice = found.images, None, found.notice
    else:
        listing = ImageQuery(
            tag=query.filters.tag, format=query.filters.format, cursor=query.cursor or "",
            limit=PAGE_SIZE,
        )
        result = await run_in_threadpool(list_images, services.db, listing)
        tiles, next_cursor, notice = result.images, result.next_cursor, ""
    tags = await run_in_threadpool(popular_tags, services.db)
    return render(
        request,
        "library.html",
        {
            "query": query,
            "tiles": [
                (tile, thumbnail_url(services.settings, tile.id), describe(tile)) for tile in tiles
            ],
            "next_link": query.link(cursor=next_cursor) if next_cursor else None,
            "first_link": query.link() if query.cursor else None,
            "formats": known_formats(),
            "tags": tags,
            "modes": searching.MODES,
            "deleted": request.query_params.get("deleted", "")[:40],
            "notice": notice,
        },
    )


def describe(tile: ImageRecord) -> str:
    """The text for a tile's alt attribute: the stored alt-text, else what we know."""
    return tile.alt or tile.title or tile.filename or f"Image {tile.id}"
