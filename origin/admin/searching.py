"""Search for the Library page, through the indexer's search (full-text; semantic and
hybrid once the CLIP side is available), narrowed by the page's tag and format filters."""

from __future__ import annotations

from indexer.annotations import tags_of
from indexer.catalog import ImageRecord, get_image
from indexer.errors import BadRequest
from indexer.search import Hit, text_search
from origin.services import Services

MODES = ("text", "semantic", "hybrid")
RESULT_LIMIT = 96
# Filters apply after ranking, so ask for more hits than are shown.
FILTERED_OVERFETCH = 5


def ranked_hits(services: Services, text: str, mode: str, limit: int) -> list[Hit]:
    if mode == "text":
        return text_search(services.db, text, limit)
    raise BadRequest(f"{mode} search is not available yet: use mode text")


def search_tiles(
    services: Services, text: str, mode: str, tag: str, fmt: str
) -> list[ImageRecord]:
    filtered = bool(tag or fmt)
    hits = ranked_hits(services, text, mode, RESULT_LIMIT * (FILTERED_OVERFETCH if filtered else 1))
    records = [record for hit in hits if (record := get_image(services.db, hit.image_id))]
    if fmt:
        records = [record for record in records if record.format == fmt]
    if tag:
        tags = tags_of(services.db, [record.id for record in records])
        records = [r for r in records if any(t.tag == tag for t in tags[r.id])]
    return records[:RESULT_LIMIT]
