"""Full-text search over title, alt-text, description, tags and file name (FTS5), and
the hybrid merge with semantic (CLIP) results.

User input never reaches FTS5's query syntax: it is cut into words, and each word is
quoted, so quotes, ``AND``/``OR``/``NOT``/``NEAR``, column filters, brackets and
stray ``*`` are plain text.  A word ending in ``*`` is a prefix query (``flow*``
finds "flower" and "flowers").  Words are ANDed.  The tokenizer (sql/0004) folds case
and diacritics (``cafe`` finds "Café") and stems English (``running`` finds "run").

Ranking is bm25 with per-column weights: a word in the tags counts most, then
alt-text, then title, then description and file name.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from indexer.errors import BadRequest

# bm25 weights in the column order of images_fts: title, alt, description, tags, filename.
WEIGHTS = {"title": 2.0, "alt": 4.0, "description": 1.0, "tags": 8.0, "filename": 1.0}
MAX_WORDS = 16
MAX_WORD_LENGTH = 64
MAX_QUERY_LENGTH = 500
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.; what most engines use)
_WORD = re.compile(r"(\w+)(\*?)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Hit:
    image_id: str
    score: float  # higher is better; comparable only within one result list


def words(text: str) -> list[tuple[str, bool]]:
    """The searchable words of ``text`` and whether each is a prefix query."""
    found = []
    for match in _WORD.finditer(unicodedata.normalize("NFC", text[:MAX_QUERY_LENGTH])):
        word = match.group(1)
        if any(ch.isalnum() for ch in word):  # "___" alone would be an empty phrase
            found.append((word[:MAX_WORD_LENGTH], bool(match.group(2))))
    return found[:MAX_WORDS]


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for user text; BadRequest when nothing is searchable."""
    parts = [f'"{word}"' + ("*" if prefix else "") for word, prefix in words(text)]
    if not parts:
        raise BadRequest("q: give at least one word (letters or digits) to search for")
    return " ".join(parts)


_BM25 = ", ".join(str(weight) for weight in WEIGHTS.values())
_SEARCH_SQL = (
    # The weights are the float constants above, never input.
    f"SELECT d.image_id, bm25(images_fts, {_BM25}) AS rank"  # noqa: S608
    " FROM images_fts JOIN search_documents d ON d.doc_id = images_fts.rowid"
    " WHERE images_fts MATCH ? ORDER BY rank, d.image_id LIMIT ?"
)


def text_search(connection: sqlite3.Connection, text: str, limit: int) -> list[Hit]:
    """Best matches first; bm25 is negative-is-better, the score is its negation."""
    rows = connection.execute(_SEARCH_SQL, (fts_query(text), limit)).fetchall()
    return [Hit(row[0], -float(row[1])) for row in rows]


def normalize_tag(text: str) -> str:
    """``"  Red   Sky "`` → ``"red sky"``: tags compare case- and space-insensitively.
    The one canonical form: the API stores tags in it and searches compare in it."""
    return _SPACES.sub(" ", text).strip().casefold()


def exact_tag_matches(connection: sqlite3.Connection, text: str, limit: int) -> list[str]:
    """Images carrying the whole query as a tag: human tags first, then by AI score."""
    rows = connection.execute(
        "SELECT image_id FROM tags WHERE tag = ?"
        " ORDER BY source = 'ai', coalesce(score, 1) DESC, image_id LIMIT ?",
        (normalize_tag(text), limit),
    ).fetchall()
    return [row[0] for row in rows]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[Hit]:
    """Merge ranked id lists: each list adds 1 / (k + rank) to an id's score."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, image_id in enumerate(ranking, start=1):
            scores[image_id] = scores.get(image_id, 0.0) + 1.0 / (k + rank)
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [Hit(image_id, score) for image_id, score in ordered]


def hybrid(
    text_hits: Sequence[Hit], semantic_hits: Sequence[Hit], exact: Sequence[str], limit: int
) -> list[Hit]:
    """Exact tag matches first (in fused order), then everything else by fused rank."""
    fused = reciprocal_rank_fusion(
        [[h.image_id for h in text_hits], [h.image_id for h in semantic_hits], list(exact)]
    )
    exact_set = set(exact)
    first = [hit for hit in fused if hit.image_id in exact_set]
    rest = [hit for hit in fused if hit.image_id not in exact_set]
    return (first + rest)[:limit]
