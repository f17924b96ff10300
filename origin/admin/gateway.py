"""The one place where the admin UI calls the indexer's library functions.

The UI is server-rendered, so its handlers call ``indexer.*`` directly instead of the
JSON API; every such call goes through here, so a change in the indexer touches one
module.  All of these block: call them in a thread pool.  Writes take a connection of
their own (see :func:`origin.admin.guard.writer`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from indexer.annotations import Edit, Tag, apply_edit, tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.db import transaction
from indexer.errors import NotFound
from indexer.ingest import Upload, ingest
from origin.services import Services


@dataclass(frozen=True)
class NearDuplicate:
    id: str
    distance: int


def near_duplicates(
    connection: sqlite3.Connection, image_id: str, settings: object
) -> list[NearDuplicate]:
    return []  # until the perceptual-hash index (issue 5) lands


@dataclass(frozen=True)
class Ingested:
    record: ImageRecord
    near: list[NearDuplicate]


def _unknown(image_id: str) -> NotFound:
    return NotFound(f"unknown image id {image_id[:40]!r}")


def image_with_tags(services: Services, image_id: str) -> tuple[ImageRecord, list[Tag]]:
    record = get_image(services.db, image_id)
    if record is None:
        raise _unknown(image_id)
    return record, tags_of(services.db, [image_id])[image_id]


def near_duplicates_of(services: Services, image_id: str) -> list[NearDuplicate]:
    return near_duplicates(services.db, image_id, services.settings.ingest)


def ingest_upload(
    connection: sqlite3.Connection, services: Services, upload: Upload
) -> Ingested:
    record = ingest(connection, services.layout, services.settings, upload)
    return Ingested(record, near_duplicates(connection, record.id, services.settings.ingest))


def _edit(connection: sqlite3.Connection, image_id: str, edit: Edit) -> None:
    if not apply_edit(connection, image_id, edit):
        raise _unknown(image_id)


def update_text(
    connection: sqlite3.Connection, image_id: str, title: str, alt: str, description: str
) -> None:
    _edit(connection, image_id, Edit(title=title, alt=alt, description=description))


def set_focal(connection: sqlite3.Connection, image_id: str, focal: tuple[float, float]) -> None:
    _edit(connection, image_id, Edit(focal=focal))


def add_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> None:
    """Add one human tag (an AI tag of the same name becomes human: confirmed).

    Not through :func:`indexer.annotations.apply_edit`: its tag list replaces every tag
    and turns them all ``human``, which would wipe the AI marks and scores of the tags
    the editor did not touch.  The search triggers follow the tags table either way.
    """
    with transaction(connection):
        _require(connection, image_id)
        connection.execute(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, 'human', NULL)"
            " ON CONFLICT (image_id, tag) DO UPDATE SET source = 'human', score = NULL",
            (image_id, tag),
        )


def remove_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> None:
    with transaction(connection):
        _require(connection, image_id)
        connection.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?", (image_id, tag))


def _require(connection: sqlite3.Connection, image_id: str) -> None:
    if connection.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
        raise _unknown(image_id)
