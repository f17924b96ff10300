"""Stored CLIP embeddings and cosine top-k over them (numpy, no torch).

Vectors are L2-normalised float32, so cosine similarity is a dot product.  The worker
holds one :class:`EmbeddingIndex` for the current model: loaded from SQLite at start,
extended as it embeds, and reloaded when rows disappear (image deletes cascade).
A brute-force matrix product over 100,000 x 512 floats takes a few milliseconds
(bench/index.py); no approximate index is needed at this scale.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Scored:
    image_id: str
    similarity: float


def to_blob(vector: Vector) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def store(connection: sqlite3.Connection, image_id: str, model: str, vector: Vector) -> None:
    """Insert or replace one image's embedding; call inside the caller's transaction."""
    connection.execute(
        "INSERT INTO embeddings (image_id, model, dim, vector) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (image_id) DO UPDATE SET model = excluded.model, dim = excluded.dim,"
        " vector = excluded.vector, created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (image_id, model, int(vector.shape[0]), to_blob(vector)),
    )


def stored_vector(connection: sqlite3.Connection, image_id: str, model: str) -> Vector | None:
    row = connection.execute(
        "SELECT vector FROM embeddings WHERE image_id = ? AND model = ?", (image_id, model)
    ).fetchone()
    return from_blob(row[0]) if row else None


def count(connection: sqlite3.Connection, model: str) -> int:
    row = connection.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,))
    return int(row.fetchone()[0])


def top_k(
    matrix: npt.NDArray[np.float32], query: Vector, limit: int, min_similarity: float
) -> list[tuple[int, float]]:
    """Row positions and similarities of the best ``limit`` rows at or above
    ``min_similarity``, best first (argpartition: O(n), then a sort of ``limit``)."""
    if matrix.shape[0] == 0 or limit <= 0:
        return []
    similarities = matrix @ query
    limit = min(limit, similarities.shape[0])
    best = np.argpartition(-similarities, limit - 1)[:limit]
    best = best[np.argsort(-similarities[best], kind="stable")]
    return [(int(i), float(similarities[i])) for i in best if similarities[i] >= min_similarity]


@dataclass
class EmbeddingIndex:
    model: str
    ids: list[str] = field(default_factory=list)
    matrix: npt.NDArray[np.float32] = field(default_factory=lambda: np.empty((0, 0), np.float32))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, connection: sqlite3.Connection) -> None:
        rows = connection.execute(
            "SELECT image_id, vector FROM embeddings WHERE model = ? ORDER BY image_id",
            (self.model,),
        ).fetchall()
        vectors = [from_blob(row[1]) for row in rows]
        with self.lock:
            self.ids = [row[0] for row in rows]
            self.matrix = np.stack(vectors) if vectors else np.empty((0, 0), np.float32)

    def refresh_if_shrunk(self, connection: sqlite3.Connection) -> None:
        """Deletes happen in other processes; a smaller count means reload."""
        if count(connection, self.model) < len(self.ids):
            self.load(connection)

    def add(self, image_ids: list[str], vectors: npt.NDArray[np.float32]) -> None:
        """Insert or replace rows.  Readers keep the lists they already took: new
        lists are swapped in, never extended in place."""
        with self.lock:
            positions = {image_id: i for i, image_id in enumerate(self.ids)}
            empty = np.empty((0, vectors.shape[1]), np.float32)
            matrix = self.matrix if self.matrix.size else empty
            fresh: list[tuple[str, Vector]] = []
            for image_id, vector in zip(image_ids, vectors, strict=True):
                if image_id in positions:
                    matrix[positions[image_id]] = vector
                else:
                    fresh.append((image_id, vector))
            if fresh:
                matrix = np.vstack([matrix, np.stack([vector for _, vector in fresh])])
            self.ids = self.ids + [image_id for image_id, _ in fresh]
            self.matrix = matrix

    def search(self, query: Vector, limit: int, min_similarity: float) -> list[Scored]:
        with self.lock:
            ids, matrix = self.ids, self.matrix
        return [Scored(ids[i], s) for i, s in top_k(matrix, query, limit, min_similarity)]

    def vector_of(self, image_id: str) -> Vector | None:
        with self.lock:
            if image_id not in self.ids:
                return None
            return np.array(self.matrix[self.ids.index(image_id)], np.float32)
