"""Search for the Library page, through the indexer's search (issue 5)."""

from __future__ import annotations

from indexer.catalog import ImageRecord
from indexer.errors import BadRequest
from origin.services import Services

MODES = ("text", "semantic", "hybrid")
RESULT_LIMIT = 96


def search_tiles(services: Services, text: str, mode: str, tag: str, fmt: str) -> list[ImageRecord]:
    raise BadRequest("search is not available yet")
