"""All perceptual hashes of the library in memory, searched with numpy.

A lookup XORs the query with every stored hash and counts bits (``np.bitwise_count``):
about 1 ms per query at a million hashes, with no per-row Python.  Each process keeps
one index per database file and brings it up to date before every lookup: new rows are
read by rowid; a deletion or a rewritten hash moves ``hash_index_state.generation``
(triggers in sql/0005) and makes the next lookup reload everything.

The close pairs behind the duplicate clusters are an all-pairs scan, O(n²): seconds at
tens of thousands of images (bench/index.py).  They are cached per thresholds and
extended incrementally — new rows are compared with all rows, O(new * n) — so only the
first listing after a start or a deletion pays the full scan.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]
UInt64s = npt.NDArray[np.uint64]


def popcount_xor(a: Int64s, b: Int64s | np.int64) -> npt.NDArray[np.uint8]:
    """Hamming distances, broadcasting.  The XOR is viewed as unsigned first:
    ``np.bitwise_count`` counts the bits of the *absolute value* of signed integers."""
    return np.bitwise_count(np.bitwise_xor(a, b).view(np.uint64))


# Elements of one (rows x all) distance block in the all-pairs scan: 4M int64 = 32 MB.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Pair:
    a: int  # positions in the index arrays, a < b
    b: int
    distance: int  # pHash


def close_pairs(
    phashes: Int64s, dhashes: Int64s, phash_threshold: int, dhash_threshold: int, start: int = 0
) -> list[Pair]:
    """Every pair within both thresholds whose later member is at ``start`` or after,
    scanned in blocks of rows so memory stays bounded."""
    count = len(phashes)
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(count, 1))
    pairs: list[Pair] = []
    for first in range(start, count, rows_per_block):
        last = min(count, first + rows_per_block)
        p_dist = popcount_xor(phashes[first:last, None], phashes[None, :last])
        rows, cols = np.nonzero(p_dist <= phash_threshold)
        earlier = cols < rows + first  # each pair once, from its later member
        rows, cols = rows[earlier], cols[earlier]
        d_dist = popcount_xor(dhashes[cols], dhashes[rows + first])
        confirmed = d_dist <= dhash_threshold
        for row, col in zip(rows[confirmed].tolist(), cols[confirmed].tolist(), strict=True):
            pairs.append(Pair(col, row + first, int(p_dist[row, col])))
    return pairs


@dataclass(frozen=True)
class Match:
    image_id: str
    phash_distance: int
    dhash_distance: int


@dataclass
class HashIndex:
    ids: list[str] = field(default_factory=list)
    phashes: Int64s = field(default_factory=lambda: np.empty(0, np.int64))
    dhashes: Int64s = field(default_factory=lambda: np.empty(0, np.int64))
    last_rowid: int = 0
    generation: int = -1
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (phash threshold, dhash threshold) -> (rows covered, their close pairs)
    pair_cache: dict[tuple[int, int], tuple[int, list[Pair]]] = field(default_factory=dict)

    def refresh(self, connection: sqlite3.Connection) -> None:
        """Read what changed since the last refresh (cheap when nothing did)."""
        generation = _generation(connection)
        with self.lock:
            if generation != self.generation:
                self._clear()
                self.generation = generation
            self._append(connection)

    def _clear(self) -> None:
        self.ids = []
        self.phashes = np.empty(0, np.int64)
        self.dhashes = np.empty(0, np.int64)
        self.last_rowid = 0
        self.pair_cache = {}

    def _append(self, connection: sqlite3.Connection) -> None:
        rows = connection.execute(
            "SELECT rowid, id, phash, dhash FROM images"
            " WHERE rowid > ? AND phash IS NOT NULL AND dhash IS NOT NULL ORDER BY rowid",
            (self.last_rowid,),
        ).fetchall()
        if not rows:
            return
        self.ids.extend(row[1] for row in rows)
        self.phashes = np.concatenate([self.phashes, np.array([r[2] for r in rows], np.int64)])
        self.dhashes = np.concatenate([self.dhashes, np.array([r[3] for r in rows], np.int64)])
        self.last_rowid = int(rows[-1][0])

    def load_arrays(self, ids: list[str], phashes: Int64s, dhashes: Int64s) -> None:
        """Fill the index directly (benchmarks, tests); it is then never refreshed."""
        with self.lock:
            self.ids, self.phashes, self.dhashes = ids, phashes, dhashes
            self.pair_cache = {}

    def pairs(self, phash_threshold: int, dhash_threshold: int) -> tuple[list[str], list[Pair]]:
        """All close pairs and the ids their positions refer to (from the cache,
        extended by the rows added since)."""
        with self.lock:
            key = (phash_threshold, dhash_threshold)
            covered, found = self.pair_cache.get(key, (0, []))
            if covered < len(self.ids):
                fresh = close_pairs(self.phashes, self.dhashes, *key, start=covered)
                found = found + fresh
                self.pair_cache[key] = (len(self.ids), found)
            return self.ids, found

    def search(
        self, queries: list[tuple[int, int]], phash_threshold: int, dhash_threshold: int
    ) -> list[Match]:
        """Stored hashes within both thresholds of any query (each a (phash, dhash)
        pair, e.g. the 8 orientations of one picture), nearest first."""
        with self.lock:
            ids, phashes, dhashes = self.ids, self.phashes, self.dhashes
        best: dict[int, tuple[int, int]] = {}
        for query_p, query_d in queries:
            # pHash over everything, dHash only for the few pHash candidates.
            p_dist = popcount_xor(phashes, np.int64(query_p))
            candidates = np.flatnonzero(p_dist <= phash_threshold)
            d_dist = popcount_xor(dhashes[candidates], np.int64(query_d))
            for position, p, d in zip(
                candidates.tolist(), p_dist[candidates].tolist(), d_dist.tolist(), strict=True
            ):
                if d <= dhash_threshold and (p, d) < best.get(position, (65, 65)):
                    best[position] = (p, d)
        ranked = sorted(best.items(), key=lambda item: (item[1], ids[item[0]]))
        return [Match(ids[position], p, d) for position, (p, d) in ranked]


def _generation(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT generation FROM hash_index_state WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


_INDEXES: dict[str, HashIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_for(connection: sqlite3.Connection) -> HashIndex:
    """This process's up-to-date index of the connection's database file."""
    key = _database_file(connection)
    with _INDEXES_LOCK:
        index = _INDEXES.setdefault(key, HashIndex())
    index.refresh(connection)
    return index


def _database_file(connection: sqlite3.Connection) -> str:
    for row in connection.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(Path(row[2]).resolve()) if row[2] else f"memory:{id(connection)}"
    return f"memory:{id(connection)}"
