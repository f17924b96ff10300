"""The one search entry point: text, semantic or hybrid, with its fallbacks and errors.

``GET /api/search``, the admin Library page and ``pictor search`` all call
:func:`run_search`, so the same query in the same mode ranks the same ids everywhere.

``text`` is FTS5 in this process (:mod:`indexer.search`).  ``semantic`` asks the AI
worker over its socket (:mod:`indexer.ai_service`: CLIP's text encoder and the embedding
matrix live only there) and raises ``Unavailable`` naming the reason when it cannot.
``hybrid`` fuses both by reciprocal rank with exact tag matches first; without the
worker it still answers from the text side and says so in the notice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from indexer import ai_service
from indexer.annotations import Tag, tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.config import AISettings
from indexer.embeddings import Scored
from indexer.errors import BadRequest, Unavailable
from indexer.layout import DataLayout
from indexer.search import MAX_QUERY_LENGTH, Hit, exact_tag_matches, hybrid, text_search

MODES = ("text", "semantic", "hybrid")
FUSION_DEPTH = 2  # hybrid fuses lists this many times deeper than it returns


@dataclass(frozen=True)
class SearchQuery:
    text: str
    mode: str
    limit: int


@dataclass(frozen=True)
class Found:
    """A ranked hit with its image and tags, for whoever presents the results."""

    hit: Hit
    record: ImageRecord
    tags: list[Tag]


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise BadRequest(f"invalid mode {mode[:20]!r}: expected one of {', '.join(MODES)}")


def make_query(text: str, mode: str, limit: int) -> SearchQuery:
    """A checked query; ``BadRequest`` naming the problem.  The limit's range is the
    caller's contract (the API and the CLI allow different maxima), not checked here."""
    check_mode(mode)
    text = text.strip()
    if not text:
        raise BadRequest("q: give some text to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise BadRequest(f"q: longer than {MAX_QUERY_LENGTH} characters")
    return SearchQuery(text, mode, limit)


def run_search(
    connection: sqlite3.Connection, layout: DataLayout, ai: AISettings, query: SearchQuery
) -> tuple[list[Hit], str | None]:
    """Ranked hits and, for a degraded hybrid search, a notice saying why."""
    check_mode(query.mode)  # a SearchQuery built by hand must not fall through to hybrid
    if query.mode == "text":
        return text_search(connection, query.text, query.limit), None
    if query.mode == "semantic":
        return _semantic(connection, layout, ai, query.text, query.limit), None
    return _hybrid(connection, layout, ai, query)


def _hybrid(
    connection: sqlite3.Connection, layout: DataLayout, ai: AISettings, query: SearchQuery
) -> tuple[list[Hit], str | None]:
    pool = query.limit * FUSION_DEPTH
    try:
        words = text_search(connection, query.text, pool)
    except BadRequest:  # nothing FTS can search for (emoji only): the semantic side may
        words = []
    notice = None
    try:
        semantic = _semantic(connection, layout, ai, query.text, pool)
    except Unavailable as error:
        semantic, notice = [], f"text results only: {error.public}"
    exact = exact_tag_matches(connection, query.text, pool)
    return hybrid(words, semantic, exact, query.limit), notice


def _semantic(
    connection: sqlite3.Connection, layout: DataLayout, ai: AISettings, text: str, limit: int
) -> list[Hit]:
    scored = ai_service.semantic_search(layout, connection, text, limit, ai.min_similarity)
    return as_hits(scored)


def as_hits(scored: Sequence[Scored]) -> list[Hit]:
    """Worker answers (cosine similarities) as hits, best first as the worker ranked."""
    return [Hit(s.image_id, s.similarity) for s in scored]


def found_images(connection: sqlite3.Connection, hits: Sequence[Hit]) -> list[Found]:
    """Each hit with its image and tags, in rank order.  Ids deleted since they were
    ranked (the worker's matrix lags deletes) are skipped."""
    records = [(hit, get_image(connection, hit.image_id)) for hit in hits]
    present = [(hit, record) for hit, record in records if record is not None]
    tags = tags_of(connection, [record.id for _, record in present])
    return [Found(hit, record, tags[record.id]) for hit, record in present]
