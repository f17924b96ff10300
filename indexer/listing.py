"""``GET /api/images``: one page of images, newest first, filtered, keyset-paged.

Keyset pagination on ``(created_at, id)`` walks the ``images_created`` index from the
cursor on, so a late page costs what the first one costs, and an upload between two
page requests never shifts or repeats rows.  The cursor is opaque (base64url).

``q`` is a plain substring match over title, alt, description, file name and tags;
full-text search proper is ``GET /api/search``.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from dataclasses import dataclass

from indexer.catalog import ImageRecord, get_image
from indexer.errors import BadRequest

_SEPARATOR = "|"
_TEXT_COLUMNS = ("title", "alt", "description", "filename")


@dataclass(frozen=True)
class ImageQuery:
    tag: str = ""
    q: str = ""
    format: str = ""
    cursor: str = ""
    limit: int = 20


@dataclass(frozen=True)
class ImagePage:
    images: list[ImageRecord]
    next_cursor: str | None


def encode_cursor(created_at: str, image_id: str) -> str:
    raw = f"{created_at}{_SEPARATOR}{image_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("invalid cursor: pass next_cursor from the previous page") from None
    created_at, separator, image_id = raw.rpartition(_SEPARATOR)
    if not separator or not created_at or not image_id:
        raise BadRequest("invalid cursor: pass next_cursor from the previous page")
    return created_at, image_id


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(query: ImageQuery) -> tuple[list[str], list[object]]:
    conditions: list[str] = []
    params: list[object] = []
    if query.tag:
        conditions.append("id IN (SELECT image_id FROM tags WHERE tag = ?)")
        params.append(query.tag)
    if query.format:
        conditions.append("format = ?")
        params.append(query.format)
    if query.q:
        pattern = _like(query.q)
        matches = [f"{column} LIKE ? ESCAPE '\\'" for column in _TEXT_COLUMNS]
        matches.append("id IN (SELECT image_id FROM tags WHERE tag LIKE ? ESCAPE '\\')")
        conditions.append(f"({' OR '.join(matches)})")
        params.extend([pattern] * len(matches))
    if query.cursor:
        conditions.append("(created_at, id) < (?, ?)")
        params.extend(decode_cursor(query.cursor))
    return conditions, params


def list_images(connection: sqlite3.Connection, query: ImageQuery) -> ImagePage:
    conditions, params = _conditions(query)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        # ``where`` joins the constant fragments above; every value is a parameter.
        f"SELECT id, created_at FROM images {where}"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        [*params, query.limit + 1],
    ).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    images = [record for row in rows if (record := get_image(connection, row["id"]))]
    last = rows[-1] if rows else None
    cursor = encode_cursor(last["created_at"], last["id"]) if more and last else None
    return ImagePage(images, cursor)
