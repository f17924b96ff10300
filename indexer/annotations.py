"""What people say about an image: title, alt text, description, focal point and tags.

Tags carry their source: ``human`` (typed by a person, at upload or by an edit) or
``ai`` (CLIP, with a score).  An edit's tag list replaces the image's whole tag list and
every tag in it becomes ``human``: a person who keeps an AI tag has confirmed it, and one
who leaves it out has removed it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.db import transaction

UNSET: object = object()


@dataclass(frozen=True)
class Tag:
    tag: str
    source: str  # "ai" or "human"
    score: float | None


@dataclass(frozen=True)
class Edit:
    """Fields to change; ``None`` leaves a field as it is.  ``focal`` is ``UNSET`` to
    keep the focal point, ``None`` to clear it, or ``(x, y)`` in 0..1."""

    title: str | None = None
    alt: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    focal: tuple[float, float] | object | None = UNSET


def tags_of(connection: sqlite3.Connection, image_ids: Iterable[str]) -> dict[str, list[Tag]]:
    """Tags of several images at once (one query for a whole page), best first."""
    ids = list(dict.fromkeys(image_ids))
    found: dict[str, list[Tag]] = {image_id: [] for image_id in ids}
    if not ids:
        return found
    placeholders = ",".join("?" for _ in ids)
    # Only "?" placeholders are interpolated; the ids are parameters.
    sql = f"SELECT image_id, tag, source, score FROM tags WHERE image_id IN ({placeholders})"  # noqa: S608
    rows = connection.execute(
        sql + " ORDER BY source = 'ai', coalesce(score, 1) DESC, tag", ids
    ).fetchall()
    for row in rows:
        found[row["image_id"]].append(Tag(row["tag"], row["source"], row["score"]))
    return found


def apply_edit(connection: sqlite3.Connection, image_id: str, edit: Edit) -> bool:
    """Apply ``edit`` in one transaction; False when the image does not exist."""
    columns: dict[str, object] = {
        name: value
        for name, value in (("title", edit.title), ("alt", edit.alt),
                            ("description", edit.description))
        if value is not None
    }
    if edit.focal is not UNSET:
        focal = edit.focal if isinstance(edit.focal, tuple) else (None, None)
        columns["focal_x"], columns["focal_y"] = focal
    with transaction(connection):
        if not _exists(connection, image_id):
            return False
        if columns:
            assignments = ", ".join(f"{name} = ?" for name in columns)
            connection.execute(
                # Column names come from the fixed tuple above, never from the client.
                f"UPDATE images SET {assignments} WHERE id = ?",  # noqa: S608
                [*columns.values(), image_id],
            )
        if edit.tags is not None:
            _replace_tags(connection, image_id, edit.tags)
    return True


def add_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> bool:
    """Add one human tag, leaving the others as they are (an AI tag of the same name
    becomes human: confirmed).  False when the image does not exist."""
    with transaction(connection):
        if not _exists(connection, image_id):
            return False
        connection.execute(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, 'human', NULL)"
            " ON CONFLICT (image_id, tag) DO UPDATE SET source = 'human', score = NULL",
            (image_id, tag),
        )
    return True


def remove_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> bool:
    """Remove one tag, whatever its source.  False when the image does not exist."""
    with transaction(connection):
        if not _exists(connection, image_id):
            return False
        connection.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?", (image_id, tag))
    return True


def _exists(connection: sqlite3.Connection, image_id: str) -> bool:
    row = connection.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
    return row is not None


def _replace_tags(connection: sqlite3.Connection, image_id: str, tags: Iterable[str]) -> None:
    connection.execute("DELETE FROM tags WHERE image_id = ?", (image_id,))
    connection.executemany(
        "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, 'human', NULL)",
        [(image_id, tag) for tag in dict.fromkeys(tags)],
    )
