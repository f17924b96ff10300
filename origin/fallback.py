"""The optional fallback image (``server.fallback_image``) sent for unknown image ids.

It is answered with status 404, so browsers show a picture while caches, crawlers and
monitoring still see that the id does not exist.  The file is read and checked once
per process; ``check`` runs at startup so a bad path fails before anything listens.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError
from starlette.responses import Response

from indexer.config import ConfigError, Settings
from indexer.errors import NotFound

# Short: an id unknown now becomes valid when those exact bytes are uploaded.
CACHE_CONTROL = "public, max-age=60"


class FallbackImage(NamedTuple):
    body: bytes
    media_type: str


@lru_cache(maxsize=4)
def load(path: Path) -> FallbackImage:
    """Read the image and take its type from its content; ConfigError naming the key."""
    try:
        with Image.open(path) as image:
            media_type = Image.MIME.get(image.format or "", "")
        body = path.read_bytes()
    except (OSError, UnidentifiedImageError) as error:
        raise ConfigError(
            f"invalid configuration key server.fallback_image: cannot read {path} as an "
            f"image ({error})"
        ) from None
    if not media_type.startswith("image/"):
        raise ConfigError(
            f"invalid configuration key server.fallback_image: {path} has no image type"
        )
    return FallbackImage(body, media_type)


def check(settings: Settings) -> None:
    if settings.server.fallback_image is not None:
        load(settings.server.fallback_image.resolve())


def unknown_image(settings: Settings, image_id: str) -> Response:
    """The fallback image with status 404, or NotFound when none is configured."""
    configured = settings.server.fallback_image
    if configured is None:
        raise NotFound(f"unknown image id {image_id}")
    image = load(configured.resolve())
    return Response(
        image.body,
        status_code=404,
        media_type=image.media_type,
        headers={"Cache-Control": CACHE_CONTROL},
    )
