"""The image page's URL builder: form fields → canonical options → a working URL.

Pure apart from the settings: validation is the delivery parser's own
(:func:`origin.options.parse_options`), so the builder accepts exactly what the
server serves and its 400 messages name the same tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from indexer.config import Settings
from indexer.errors import BadRequest
from origin.admin.links import transform_url
from origin.formats import normalize_extension
from origin.options import COMPASS, parse_options

FORMATS = ("auto", "jpg", "webp", "avif", "png", "gif")
GRAVITIES = (*COMPASS, "focal")
FIELD_KEYS = (("w", "w"), ("h", "h"), ("fit", "fit"), ("g", "g"), ("q", "q"), ("dpr", "dpr"))


@dataclass(frozen=True)
class BuiltUrl:
    options: str
    path: str


def options_from_fields(fields: Mapping[str, str]) -> str:
    """``{"w": "400", "fit": "cover", "g": ""}`` → ``"fit_cover,w_400"`` (canonical)."""
    tokens = []
    for field, key in FIELD_KEYS:
        value = fields.get(field, "").strip()
        if value:
            if "," in value:  # would smuggle in another token
                raise BadRequest(f"invalid value {value[:20]!r} for {field}")
            tokens.append(f"{key}_{value}")
    return parse_options(",".join(tokens)).canonical if tokens else "-"


def build_url(settings: Settings, image_id: str, fields: Mapping[str, str]) -> BuiltUrl:
    options = options_from_fields(fields)
    fmt = fields.get("format", "auto").strip() or "auto"
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt[:20]!r}: use one of {', '.join(FORMATS)}")
    target = image_id if fmt == "auto" else f"{image_id}.{normalize_extension(fmt)}"
    return BuiltUrl(options, transform_url(settings, options, target))
