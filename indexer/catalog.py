"""The ``images`` table as typed records: read, insert, delete."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from indexer.db import transaction


@dataclass(frozen=True)
class ImageRecord:
    id: str
    sha256: str
    bytes: int
    width: int
    height: int
    format: str
    has_alpha: bool
    filename: str = ""
    title: str = ""
    alt: str = ""
    description: str = ""
    focal_x: float | None = None
    focal_y: float | None = None
    blurhash: str = ""
    pyramid: tuple[int, ...] = ()
    taken_at: str | None = None
    camera: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    created_at: str = ""
    tags: tuple[tuple[str, str, float | None], ...] = field(default=())
    frames: int = 1  # > 1 only for animated GIF and WebP originals
    phash: int | None = None  # perceptual hashes (indexer/hashes.py), signed 64-bit
    dhash: int | None = None

    @property
    def focal(self) -> tuple[float, float] | None:
        if self.focal_x is None or self.focal_y is None:
            return None
        return (self.focal_x, self.focal_y)


_COLUMNS = (
    "id",
    "sha256",
    "bytes",
    "width",
    "height",
    "format",
    "has_alpha",
    "filename",
    "title",
    "alt",
    "description",
    "focal_x",
    "focal_y",
    "blurhash",
    "pyramid",
    "taken_at",
    "camera",
    "gps_lat",
    "gps_lon",
    "frames",
    "phash",
    "dhash",
)


def _record(row: sqlite3.Row) -> ImageRecord:
    values = dict(row)
    values["has_alpha"] = bool(values["has_alpha"])
    values["pyramid"] = tuple(int(size) for size in values["pyramid"].split(",") if size)
    return ImageRecord(**values)


def get_image(connection: sqlite3.Connection, image_id: str) -> ImageRecord | None:
    row = connection.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
    return _record(row) if row else None


def image_exists(connection: sqlite3.Connection, image_id: str) -> bool:
    row = connection.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
    return row is not None


def insert_image(connection: sqlite3.Connection, record: ImageRecord) -> None:
    """Insert a row; raises sqlite3.IntegrityError when the id already exists."""
    values = [getattr(record, column) for column in _COLUMNS]
    values[_COLUMNS.index("pyramid")] = ",".join(str(size) for size in record.pyramid)
    placeholders = ",".join("?" for _ in _COLUMNS)
    with transaction(connection):
        connection.execute(
            # Column names are the constant _COLUMNS, never user input.
            f"INSERT INTO images ({','.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
            values,
        )


def delete_image(connection: sqlite3.Connection, image_id: str) -> bool:
    with transaction(connection):
        cursor = connection.execute("DELETE FROM images WHERE id = ?", (image_id,))
    return cursor.rowcount > 0
