"""Delivery URLs for the admin pages, made exactly as any client would get them.

Thumbnails use the ``thumb`` preset when it is configured; every other picture is a
signed URL made with the first configured signing key (``pictor sign`` does the same),
or an unsigned ``/img/_/`` URL in unsigned mode.
"""

from __future__ import annotations

from indexer.config import Settings
from origin.options import parse_options
from origin.signing import signed_path

THUMB_PRESET = "thumb"
THUMB_OPTIONS = "fit_cover,h_200,w_200"


def transform_url(settings: Settings, options: str, target: str) -> str:
    """A working URL for ``options`` (canonicalised) and ``id[.ext]``; raises 400 on bad options."""
    canonical = parse_options(options).canonical
    keys = settings.security.signing_keys
    if keys:
        return signed_path(keys[0], canonical, target)
    return f"/img/_/{canonical}/{target}"


def thumbnail_url(settings: Settings, image_id: str) -> str:
    if THUMB_PRESET in settings.presets:
        return f"/img/{THUMB_PRESET}/{image_id}"
    return transform_url(settings, THUMB_OPTIONS, image_id)


def preview_url(settings: Settings, image_id: str, long_edge: int = 1200) -> str:
    return transform_url(settings, f"h_{long_edge},w_{long_edge}", image_id)


def focal_crop_urls(
    settings: Settings, image_id: str, focal: tuple[float, float] | None
) -> list[dict[str, str]]:
    """A few crops of very different shapes, so a focal point's effect is visible.

    Explicit ``fx``/``fy`` URLs rather than ``g_focal``: a variant cached under a
    ``g_focal`` URL would not change when the stored focal point does.
    """
    fx, fy = focal if focal is not None else (0.5, 0.5)
    crops = []
    for label, width, height in CROP_SHAPES:
        options = f"fit_cover,w_{width},h_{height},fx_{fx:.4f},fy_{fy:.4f}"
        crops.append({"label": label, "url": transform_url(settings, options, f"{image_id}.jpg")})
    return crops


CROP_SHAPES = (("Square", 160, 160), ("Portrait 1:2", 100, 200), ("Banner 3:1", 300, 100))
