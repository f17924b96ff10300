"""Near-duplicates: the same picture resized, recompressed, slightly cropped or
brightened — not merely a similar one (bursts, the same place on another day).
"Similar" is CLIP's business (``/api/images/{id}/similar``); this module only answers
"is this the same photo?" from perceptual hashes.

A pair is a near-duplicate when its pHash distance is at most
``ingest.near_duplicate_threshold`` and its dHash distance at most
``ingest.near_duplicate_dhash_threshold``.  Pairs an editor dismissed are never
proposed again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from PIL import Image

from indexer.config import IngestSettings
from indexer.errors import Conflict
from indexer.hash_index import Match, index_for
from indexer.hashes import PerceptualHashes, oriented_hashes, perceptual_hashes


@dataclass(frozen=True)
class NearDuplicate:
    id: str
    distance: int  # pHash Hamming distance, 0..64
    dhash_distance: int

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "distance": self.distance, "dhash_distance": self.dhash_distance}


def _from_matches(matches: list[Match], exclude: str | None = None) -> list[NearDuplicate]:
    return [
        NearDuplicate(m.image_id, m.phash_distance, m.dhash_distance)
        for m in matches
        if m.image_id != exclude
    ]


def find_for_picture(
    connection: sqlite3.Connection, settings: IngestSettings, picture: Image.Image
) -> tuple[PerceptualHashes, list[NearDuplicate]]:
    """Hashes of a new picture and the stored images it nearly duplicates (also rotated
    or mirrored when ``ingest.near_duplicate_orientations`` is on)."""
    if settings.near_duplicate_orientations:
        every = oriented_hashes(picture)
        hashes = every[0]
    else:
        hashes = perceptual_hashes(picture)
        every = [hashes]
    matches = index_for(connection).search(
        [(h.phash, h.dhash) for h in every],
        settings.near_duplicate_threshold,
        settings.near_duplicate_dhash_threshold,
    )
    return hashes, _from_matches(matches)


def check_upload(
    connection: sqlite3.Connection, settings: IngestSettings, picture: Image.Image
) -> PerceptualHashes:
    """Ingest's one call: the hashes to store with the new row.  With
    ``ingest.reject_near_duplicates`` a near-duplicate upload is a 409 naming the
    existing image."""
    hashes, found = find_for_picture(connection, settings, picture)
    if settings.reject_near_duplicates and found:
        nearest = found[0]
        raise Conflict(
            f"image is a near-duplicate of {nearest.id} (distance {nearest.distance})",
            existing_id=nearest.id,
        )
    return hashes


def near_duplicates(
    connection: sqlite3.Connection, image_id: str, settings: IngestSettings | None = None
) -> list[NearDuplicate]:
    """Stored images that nearly duplicate ``image_id`` (not itself, not dismissed
    pairs), nearest first.  Empty for unknown ids and for images without hashes."""
    settings = settings or IngestSettings()
    row = connection.execute("SELECT phash, dhash FROM images WHERE id = ?", (image_id,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return []
    matches = index_for(connection).search(
        [(row[0], row[1])],
        settings.near_duplicate_threshold,
        settings.near_duplicate_dhash_threshold,
    )
    dismissed = dismissed_partners(connection, image_id)
    return [d for d in _from_matches(matches, exclude=image_id) if d.id not in dismissed]


def dismissed_partners(connection: sqlite3.Connection, image_id: str) -> set[str]:
    rows = connection.execute(
        "SELECT image_b FROM duplicate_dismissals WHERE image_a = ?"
        " UNION SELECT image_a FROM duplicate_dismissals WHERE image_b = ?",
        (image_id, image_id),
    )
    return {row[0] for row in rows}
