"""Acting on a cluster of near-duplicates: keep one, or say they are not duplicates.

Keeping one merges what people said about the others into it, then deletes them:
tags (a human tag beats an AI one; the better score wins between two AI tags), and
title, alt-text and description where the keeper has none — or only an AI draft while
another copy has a human one.  Merge and row deletions are one transaction; files are
removed after it commits (indexer/removal.py).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from indexer.db import transaction
from indexer.drafts import field_sources
from indexer.errors import BadRequest, NotFound
from indexer.layout import DataLayout, is_image_id
from indexer.removal import delete_rows, remove_files

TEXT_FIELDS = ("title", "alt", "description")


@dataclass(frozen=True)
class KeepResult:
    keeper: str
    removed: tuple[str, ...]
    merged_tags: int


def _checked_ids(ids: Sequence[str], what: str) -> list[str]:
    for image_id in ids:
        if not isinstance(image_id, str) or not is_image_id(image_id):
            raise BadRequest(f"{what}: {image_id!r} is not an image id (20 lowercase hex digits)")
    return list(dict.fromkeys(ids))


def _require_existing(connection: sqlite3.Connection, ids: Sequence[str]) -> None:
    for image_id in ids:
        if connection.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone() is None:
            raise NotFound(f"image {image_id} does not exist")


def keep_one(
    connection: sqlite3.Connection, layout: DataLayout, keeper: str, remove: Sequence[str]
) -> KeepResult:
    """Merge ``remove`` into ``keeper`` and delete them."""
    keeper = _checked_ids([keeper], "keep")[0]
    doomed = [image_id for image_id in _checked_ids(remove, "remove") if image_id != keeper]
    if not doomed:
        raise BadRequest("remove: name at least one image other than the keeper")
    with transaction(connection):
        _require_existing(connection, [keeper, *doomed])
        merged = sum(_merge_tags(connection, keeper, other) for other in doomed)
        _merge_texts(connection, keeper, doomed)
        for image_id in doomed:
            delete_rows(connection, image_id)
    for image_id in doomed:
        remove_files(layout, image_id)
    return KeepResult(keeper, tuple(doomed), merged)


def _merge_tags(connection: sqlite3.Connection, keeper: str, other: str) -> int:
    cursor = connection.execute(
        "INSERT INTO tags (image_id, tag, source, score)"
        " SELECT ?, tag, source, score FROM tags WHERE image_id = ?"
        " ON CONFLICT (image_id, tag) DO UPDATE SET"
        "   source = CASE WHEN 'human' IN (source, excluded.source) THEN 'human' ELSE 'ai' END,"
        "   score = CASE WHEN 'human' IN (source, excluded.source) THEN NULL"
        "           ELSE max(coalesce(score, 0), coalesce(excluded.score, 0)) END",
        (keeper, other),
    )
    return cursor.rowcount


def _merge_texts(connection: sqlite3.Connection, keeper: str, doomed: Sequence[str]) -> None:
    for name in TEXT_FIELDS:
        if _is_human(connection, keeper, name):
            continue
        donor = next((d for d in doomed if _is_human(connection, d, name)), None)
        if donor is not None:
            connection.execute(
                # The column name is one of the fixed TEXT_FIELDS, never input.
                f"UPDATE images SET {name} = (SELECT {name} FROM images WHERE id = ?)"  # noqa: S608
                " WHERE id = ?",
                (donor, keeper),
            )


def _is_human(connection: sqlite3.Connection, image_id: str, name: str) -> bool:
    """Whether a text field holds something a person wrote (description is never AI)."""
    if name in ("title", "alt"):
        return field_sources(connection, image_id)[name] == "human"
    row = connection.execute(
        # The column name is one of the fixed TEXT_FIELDS, never input.
        f"SELECT {name} != '' FROM images WHERE id = ?",  # noqa: S608
        (image_id,),
    ).fetchone()
    return bool(row and row[0])


def dismiss(connection: sqlite3.Connection, ids: Sequence[str]) -> int:
    """Remember that these images are not duplicates of each other; returns the
    number of pairs recorded."""
    unique = sorted(_checked_ids(ids, "ids"))
    if len(unique) < 2:
        raise BadRequest("ids: name at least two different images")
    pairs = list(itertools.combinations(unique, 2))
    with transaction(connection):
        _require_existing(connection, unique)
        connection.executemany(
            "INSERT OR IGNORE INTO duplicate_dismissals (image_a, image_b) VALUES (?, ?)", pairs
        )
    return len(pairs)
