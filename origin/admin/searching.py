"""Search for the Library page: the same ranking as ``GET /api/search``
(:func:`origin.api.search.run_search`: full-text, semantic through the AI worker, or
hybrid, which falls back to the text side with a notice when the worker cannot
answer), then narrowed by the page's tag and format filters."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.annotations import tags_of
from indexer.catalog import ImageRecord, get_image
from origin.api.search import MODES, SearchQuery, run_search
from origin.services import Services

RESULT_LIMIT = 96
# Filters apply after ranking, so ask for more hits than are shown.
FILTERED_OVERFETCH = 5

__all__ = ["MODES", "Results", "search"]


@dataclass(frozen=True)
class Results:
    images: list[ImageRecord]
    notice: str = ""  # why a hybrid search fell back to text alone


def search(services: Services, text: str, mode: str, tag: str, fmt: str) -> Results:
    filtered = bool(tag or fmt)
    limit = RESULT_LIMIT * (FILTERED_OVERFETCH if filtered else 1)
    hits, notice = run_search(services, SearchQuery(text, mode, limit))
    records = [record for hit in hits if (record := get_image(services.db, hit.image_id))]
    if fmt:
        records = [record for record in records if record.format == fmt]
    if tag:
        tags = tags_of(services.db, [record.id for record in records])
        records = [r for r in records if any(t.tag == tag for t in tags[r.id])]
    return Results(records[:RESULT_LIMIT], notice or "")
