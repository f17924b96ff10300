"""AI drafts of alt-text and title, and where an image's current text came from.

The worker drafts alt-text and a title from the image's tags.  A draft is written into
the image only while the field is empty or still holds the previous draft; the draft
itself is remembered in ``ai_drafts``.  So the source of a field needs no bookkeeping
in the editors' code paths: it is ``ai`` while the text equals the draft, ``human``
once anyone changed it, and ``None`` while it is empty.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

Source = Literal["ai", "human"] | None
FIELDS = ("title", "alt")


@dataclass(frozen=True)
class Draft:
    title: str
    alt: str


def field_sources(connection: sqlite3.Connection, image_id: str) -> dict[str, Source]:
    """``{"title": source, "alt": source}`` for one image (both None if unknown)."""
    row = connection.execute(
        "SELECT i.title, i.alt, d.title AS draft_title, d.alt AS draft_alt"
        " FROM images i LEFT JOIN ai_drafts d ON d.image_id = i.id WHERE i.id = ?",
        (image_id,),
    ).fetchone()
    if row is None:
        return dict.fromkeys(FIELDS)
    return {name: _source(row[name], row[f"draft_{name}"]) for name in FIELDS}


def _source(text: str, draft: str | None) -> Source:
    if not text:
        return None
    return "ai" if draft is not None and text == draft else "human"


def write_draft(connection: sqlite3.Connection, image_id: str, draft: Draft, model: str) -> None:
    """Store a new draft and put it into every field that is empty or still the old
    draft.  Call inside the caller's transaction."""
    sources = field_sources(connection, image_id)
    for name in FIELDS:
        if sources[name] != "human":
            connection.execute(
                # The column name is one of the fixed FIELDS, never input.
                f"UPDATE images SET {name} = ? WHERE id = ?",  # noqa: S608
                (getattr(draft, name), image_id),
            )
    connection.execute(
        "INSERT INTO ai_drafts (image_id, title, alt, model) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (image_id) DO UPDATE SET title = excluded.title, alt = excluded.alt,"
        " model = excluded.model, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (image_id, draft.title, draft.alt, model),
    )
