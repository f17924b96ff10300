"""Output formats: extensions, content types, Accept negotiation and encoders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from io import BytesIO

from PIL import Image

# pillow-avif-plugin replaces Pillow's own AVIF plugin when imported (its aom output is
# byte-identical) and adds the SVT-AV1 encoder: about 9x faster at the same SSIM and
# size (bench/results/avif.md).  SVT_LOG=1 keeps SVT's banner out of the logs.
os.environ.setdefault("SVT_LOG", "1")
import pillow_avif  # noqa: F401

from indexer.errors import BadRequest

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
}
EXTENSION_ALIASES = {"jpeg": "jpg"}
ALPHA_FORMATS = frozenset({"png", "webp", "avif", "gif"})


def normalize_extension(ext: str) -> str:
    """``jpeg`` → ``jpg``; unknown extensions are a 400 naming them."""
    ext = EXTENSION_ALIASES.get(ext, ext)
    if ext not in CONTENT_TYPES:
        raise BadRequest(f"unknown extension {ext!r}; use one of {', '.join(CONTENT_TYPES)}")
    return ext


def negotiate(accept: str, has_alpha: bool, avif_enabled: bool) -> str:
    """DESIGN §2: AVIF if accepted and enabled, else WebP, else JPEG (PNG with alpha).

    A plain substring test, exactly what Nginx's ``map $http_accept`` does, so the
    origin and Nginx always pick the same file for the same header.
    """
    if avif_enabled and "image/avif" in accept:
        return "avif"
    if "image/webp" in accept:
        return "webp"
    return "png" if has_alpha else "jpg"


@dataclass(frozen=True)
class EncoderSettings:
    quality: int
    avif_speed: int = 9
    webp_method: int = 4
    avif_codec: str = "svt"


def encode(image: Image.Image, fmt: str, settings: EncoderSettings) -> bytes:
    """Encode with metadata stripped: nothing of the source's EXIF, XMP or GPS survives."""
    image.info = {}
    buffer = BytesIO()
    if fmt == "jpg":
        image.convert("RGB").save(
            buffer, "JPEG", quality=settings.quality, optimize=True, progressive=True
        )
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=6)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=settings.quality, method=settings.webp_method)
    elif fmt == "avif":
        _save_avif(image, buffer, settings)
    elif fmt == "gif":
        image.save(buffer, "GIF", optimize=False)
    else:  # pragma: no cover - formats are validated when the URL is parsed
        raise BadRequest(f"unknown output format {fmt!r}")
    return buffer.getvalue()


SVT_MIN_EDGE = 4  # SVT-AV1 refuses smaller pictures; aom encodes them
SVT_QUALITY_OFFSET = 5  # SVT at q+5 matches aom at q in SSIM and size (bench/results/avif.md)


def _save_avif(image: Image.Image, buffer: BytesIO, settings: EncoderSettings) -> None:
    codec = settings.avif_codec if min(image.size) >= SVT_MIN_EDGE else "aom"
    quality = settings.quality
    if codec == "svt":
        quality = min(100, quality + SVT_QUALITY_OFFSET)
    image.save(buffer, "AVIF", quality=quality, speed=settings.avif_speed, codec=codec)
