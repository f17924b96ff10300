"""An image as the API shows it: metadata, tags, focal point and ready-made URLs.

URLs are absolute, built from the request's own scheme and host.  Every preset gets
its URL (presets never need a signature); ``original`` is the full-size re-encoded
image (``-`` options), signed with the first signing key when keys are configured,
unsigned in unsigned mode, and ``null`` when ``security.presets_only`` refuses it.
Without an extension the format follows the browser's ``Accept`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from indexer.annotations import Tag
from indexer.catalog import ImageRecord
from origin.services import Services
from origin.signing import signed_path
from origin.urls import PREFIX, UNSIGNED_MARK

API_IMAGES = "/api/images"
NO_OPTIONS = "-"


def image_location(image_id: str) -> str:
    return f"{API_IMAGES}/{image_id}"


def delivery_path(services: Services, options: str, target: str) -> str | None:
    """The path a client may fetch for ``options`` (canonical) and ``target``
    (``id`` or ``id.ext``), signed when keys exist; None when it would be refused."""
    security = services.settings.security
    if security.presets_only:
        return None
    if security.signing_keys:
        return signed_path(security.signing_keys[0], options, target)
    return f"{PREFIX}{UNSIGNED_MARK}/{options}/{target}"


def urls_for(services: Services, base: str, image_id: str) -> dict[str, Any]:
    presets = {name: f"{base}{PREFIX}{name}/{image_id}" for name in sorted(services.presets)}
    original = delivery_path(services, NO_OPTIONS, image_id)
    return {"presets": presets, "original": f"{base}{original}" if original else None}


def public_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def present_image(
    request: Request,
    record: ImageRecord,
    tags: list[Tag],
    near_duplicates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    services: Services = request.app.state.services
    document: dict[str, Any] = {
        "id": record.id,
        "sha256": record.sha256,
        "bytes": record.bytes,
        "width": record.width,
        "height": record.height,
        "format": record.format,
        "has_alpha": record.has_alpha,
        "filename": record.filename,
        "title": record.title,
        "alt": record.alt,
        "description": record.description,
        "focal": {"x": record.focal[0], "y": record.focal[1]} if record.focal else None,
        "blurhash": record.blurhash,
        "taken_at": record.taken_at,
        "camera": record.camera,
        "gps": _gps(record),
        "created_at": record.created_at,
        "tags": [{"tag": t.tag, "source": t.source, "score": t.score} for t in tags],
        "urls": urls_for(services, public_base(request), record.id),
    }
    if near_duplicates is not None:
        document["near_duplicates"] = near_duplicates
    return document


def _gps(record: ImageRecord) -> dict[str, float] | None:
    if record.gps_lat is None or record.gps_lon is None:
        return None
    return {"lat": record.gps_lat, "lon": record.gps_lon}
