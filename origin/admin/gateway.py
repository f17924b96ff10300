"""The one place where the admin UI calls the indexer's library functions.

The UI is server-rendered, so its handlers call ``indexer.*`` directly instead of the
JSON API; every such call goes through here, so a change in the indexer touches one
module.  All of these block: call them in a thread pool.  Writes take a connection of
their own (see :func:`origin.admin.guard.writer`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from indexer.annotations import Edit, Tag, apply_edit, tags_of
from indexer.annotations import add_tag as add_one_tag
from indexer.annotations import remove_tag as remove_one_tag
from indexer.catalog import ImageRecord, get_image
from indexer.clusters import Cluster, find_clusters
from indexer.duplicates import NearDuplicate, near_duplicates
from indexer.errors import NotFound
from indexer.jobs import recent_errors
from indexer.layout import DataLayout
from indexer.removal import forget_focal_variants, remove_image
from indexer.resolve import KeepResult, dismiss, keep_one
from origin import health
from origin.admin.latency import Latency, render_latency
from origin.report import build_report, default_logs, since_now
from origin.services import Services


def _unknown(image_id: str) -> NotFound:
    return NotFound(f"unknown image id {image_id[:40]!r}")


def image_with_tags(services: Services, image_id: str) -> tuple[ImageRecord, list[Tag]]:
    record = get_image(services.db, image_id)
    if record is None:
        raise _unknown(image_id)
    return record, tags_of(services.db, [image_id])[image_id]


def near_duplicates_of(services: Services, image_id: str) -> list[NearDuplicate]:
    return near_duplicates(services.db, image_id, services.settings.ingest)


def _edit(connection: sqlite3.Connection, image_id: str, edit: Edit) -> None:
    if not apply_edit(connection, image_id, edit):
        raise _unknown(image_id)


def update_text(
    connection: sqlite3.Connection, image_id: str, title: str, alt: str, description: str
) -> None:
    _edit(connection, image_id, Edit(title=title, alt=alt, description=description))


def set_focal(
    connection: sqlite3.Connection, layout: DataLayout, image_id: str, focal: tuple[float, float]
) -> None:
    _edit(connection, image_id, Edit(focal=focal))
    forget_focal_variants(layout, image_id)


def add_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> None:
    """One tag at a time, so the AI marks and scores of the other tags stay."""
    if not add_one_tag(connection, image_id, tag):
        raise _unknown(image_id)


def remove_tag(connection: sqlite3.Connection, image_id: str, tag: str) -> None:
    if not remove_one_tag(connection, image_id, tag):
        raise _unknown(image_id)


def delete_image(connection: sqlite3.Connection, layout: DataLayout, image_id: str) -> None:
    """Rows, original, pyramid and every variant (NotFound when already gone)."""
    remove_image(connection, layout, image_id)


def clusters(services: Services) -> list[Cluster]:
    return find_clusters(services.db, services.settings.ingest)


def keep_one_of(
    connection: sqlite3.Connection, layout: DataLayout, keeper: str, others: list[str]
) -> KeepResult:
    return keep_one(connection, layout, keeper, others)


def not_duplicates(connection: sqlite3.Connection, ids: list[str]) -> int:
    return dismiss(connection, ids)


def status_document(services: Services) -> dict[str, Any]:
    """Exactly what ``GET /api/status`` answers."""
    return health.status_document(services)


def traffic_report(layout: DataLayout, since: str) -> tuple[dict[str, Any], Latency | None]:
    """``pictor report --since`` over Nginx's access logs, as a dict, and the render
    latency percentiles over the same lines."""
    logs, start = default_logs(layout.logs), since_now(since)
    return build_report(logs, since=start), render_latency(logs, start)


def recent_job_errors(services: Services) -> list[dict[str, object]]:
    """The AI jobs that failed most recently, with their error text."""
    return recent_errors(services.db, limit=10)
