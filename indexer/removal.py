"""Deleting an image: its index rows, its original, its pyramid and every variant.

The rows go first: from then on the image is gone for every reader (404, no new
renders start).  Then the files.  A crash in between leaves only files without a row,
which ``pictor doctor`` finds and removes.  Rows in other tables follow the image row
through ``ON DELETE CASCADE``.

``remove_image`` does both steps; ``delete_rows`` (inside the caller's transaction) and
``remove_files`` (after it commits) are the two halves for callers that delete several
images in one transaction.
"""

from __future__ import annotations

import shutil
import sqlite3

from indexer.db import transaction
from indexer.errors import NotFound
from indexer.layout import DataLayout


def delete_rows(connection: sqlite3.Connection, image_id: str) -> bool:
    """Delete the image's rows in the caller's open transaction; False if none existed."""
    cursor = connection.execute("DELETE FROM images WHERE id = ?", (image_id,))
    return cursor.rowcount > 0


def remove_files(layout: DataLayout, image_id: str) -> None:
    """Remove the original, the pyramid and every variant (all options, formats, presets)."""
    layout.original(image_id).unlink(missing_ok=True)
    for directory in (layout.pyramid_dir(image_id), layout.variant_dir(image_id)):
        shutil.rmtree(directory, ignore_errors=True)


def forget_focal_variants(layout: DataLayout, image_id: str) -> int:
    """Delete the cached variants that depend on the stored focal point (``g_focal``),
    so the next request renders the new crop.  Returns how many files went."""
    removed = 0
    for path in layout.variant_dir(image_id).rglob("*g_focal*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_image(connection: sqlite3.Connection, layout: DataLayout, image_id: str) -> None:
    """Remove everything stored for ``image_id``; ``NotFound`` if it does not exist
    (also when another request deleted it a moment ago)."""
    with transaction(connection):
        deleted = delete_rows(connection, image_id)
    if not deleted:
        raise NotFound(f"unknown image id {image_id}")
    remove_files(layout, image_id)
