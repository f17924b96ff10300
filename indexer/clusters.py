"""Clusters of near-duplicates with a suggested keeper (``GET /api/duplicates``,
``pictor dupes``).

Close pairs (indexer/duplicates.py) minus the pairs an editor dismissed are joined
with union-find, so A~B and B~C make one cluster {A, B, C}.  The suggested keeper is
the member with the most pixels, then the most bytes, then the most metadata
(title, alt-text, description, tags, capture date, camera), then the oldest.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from indexer.config import IngestSettings
from indexer.hash_index import index_for


@dataclass(frozen=True)
class Member:
    id: str
    width: int
    height: int
    bytes: int
    format: str
    filename: str
    title: str
    created_at: str
    metadata: int  # how many metadata fields are filled in
    distance: int  # pHash distance to the keeper

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "format": self.format,
            "filename": self.filename,
            "title": self.title,
            "created_at": self.created_at,
            "metadata_fields": self.metadata,
            "distance": self.distance,
        }


@dataclass(frozen=True)
class Cluster:
    keeper: str
    members: tuple[Member, ...]  # keeper first

    def as_json(self) -> dict[str, object]:
        return {"keeper": self.keeper, "images": [m.as_json() for m in self.members]}


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def groups(self) -> list[list[int]]:
        grouped: dict[int, list[int]] = {}
        for item in self.parent:
            grouped.setdefault(self.find(item), []).append(item)
        return [sorted(group) for group in grouped.values()]


def find_clusters(
    connection: sqlite3.Connection, settings: IngestSettings, threshold: int | None = None
) -> list[Cluster]:
    """All clusters, biggest first.  ``threshold`` overrides the pHash threshold."""
    phash_threshold = settings.near_duplicate_threshold if threshold is None else threshold
    index = index_for(connection)
    ids, pairs = index.pairs(phash_threshold, settings.near_duplicate_dhash_threshold)
    dismissed = _dismissed(connection)
    groups = UnionFind()
    for pair in pairs:
        a, b = ids[pair.a], ids[pair.b]
        if (min(a, b), max(a, b)) not in dismissed:
            groups.union(pair.a, pair.b)
    clusters = [_cluster(connection, [ids[i] for i in group]) for group in groups.groups()]
    return sorted(clusters, key=lambda c: (-len(c.members), c.keeper))


def _dismissed(connection: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = connection.execute("SELECT image_a, image_b FROM duplicate_dismissals")
    return {(row[0], row[1]) for row in rows}


def _cluster(connection: sqlite3.Connection, member_ids: list[str]) -> Cluster:
    rows = _member_rows(connection, member_ids)
    keeper = min(rows, key=keeper_rank)
    keeper_hash = int(keeper["phash"])
    members = [_member(row, keeper_hash) for row in rows]
    members.sort(key=lambda m: (m.id != keeper["id"], m.distance, m.id))
    return Cluster(keeper=keeper["id"], members=tuple(members))


_MEMBER_QUERY = """
SELECT i.id, i.width, i.height, i.bytes, i.format, i.filename, i.title, i.created_at, i.phash,
       (i.title != '') + (i.alt != '') + (i.description != '') + (i.taken_at IS NOT NULL)
       + (i.camera IS NOT NULL)
       + (SELECT count(*) FROM tags t WHERE t.image_id = i.id) AS metadata
FROM images i WHERE i.id IN (SELECT value FROM json_each(?))
"""


def _member_rows(connection: sqlite3.Connection, member_ids: list[str]) -> list[sqlite3.Row]:
    return list(connection.execute(_MEMBER_QUERY, (json.dumps(member_ids),)))


def keeper_rank(row: sqlite3.Row) -> tuple[int, int, int, str, str]:
    """Smallest is the best keeper: most pixels, bytes, metadata; then the oldest
    upload (its id is the one already in use elsewhere), then the id."""
    pixels = row["width"] * row["height"]
    return (-pixels, -row["bytes"], -row["metadata"], row["created_at"], row["id"])


def _member(row: sqlite3.Row, keeper_hash: int) -> Member:
    return Member(
        id=row["id"],
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        format=row["format"],
        filename=row["filename"],
        title=row["title"],
        created_at=row["created_at"],
        metadata=row["metadata"],
        distance=((int(row["phash"]) ^ keeper_hash) & 0xFFFF_FFFF_FFFF_FFFF).bit_count(),
    )
