"""Search for the Library page through the indexer's search: full-text (FTS5),
semantic (CLIP, asked of the worker process) or hybrid (reciprocal-rank fusion with
exact tag matches first), then narrowed by the page's tag and format filters."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.ai_service import semantic_search  # the worker's client: no CLIP in here
from indexer.annotations import tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.errors import Unavailable
from indexer.search import Hit, exact_tag_matches, hybrid, text_search
from origin.services import Services

MODES = ("text", "semantic", "hybrid")
RESULT_LIMIT = 96
# Filters apply after ranking, so ask for more hits than are shown.
FILTERED_OVERFETCH = 5


@dataclass(frozen=True)
class Results:
    images: list[ImageRecord]
    notice: str = ""  # e.g. why a hybrid search fell back to text alone


def semantic_hits(services: Services, text: str, limit: int) -> list[Hit]:
    """Raises Unavailable (503, with the reason) when the AI worker cannot answer."""
    minimum = services.settings.ai.min_similarity
    scored = semantic_search(services.layout, services.db, text, limit, minimum)
    return [Hit(item.image_id, item.similarity) for item in scored]


def ranked_hits(services: Services, text: str, mode: str, limit: int) -> tuple[list[Hit], str]:
    if mode == "text":
        return text_search(services.db, text, limit), ""
    if mode == "semantic":
        return semantic_hits(services, text, limit), ""
    lexical = text_search(services.db, text, limit)
    exact = exact_tag_matches(services.db, text, limit)
    try:
        semantic = semantic_hits(services, text, limit)
        notice = ""
    except Unavailable as unavailable:
        # Hybrid still has two of its three rankings: better than no answer.
        semantic, notice = [], f"Semantic part skipped: {unavailable.public}"
    return hybrid(lexical, semantic, exact, limit), notice


def search(services: Services, text: str, mode: str, tag: str, fmt: str) -> Results:
    filtered = bool(tag or fmt)
    limit = RESULT_LIMIT * (FILTERED_OVERFETCH if filtered else 1)
    hits, notice = ranked_hits(services, text, mode, limit)
    records = [record for hit in hits if (record := get_image(services.db, hit.image_id))]
    if fmt:
        records = [record for record in records if record.format == fmt]
    if tag:
        tags = tags_of(services.db, [record.id for record in records])
        records = [r for r in records if any(t.tag == tag for t in tags[r.id])]
    return Results(records[:RESULT_LIMIT], notice)
