"""Validate an upload by its content and decode it into an upright sRGB picture.

What is accepted (the file name and the client's Content-Type are never consulted):

* raster formats Pillow opens: JPEG (and MPO, stored as JPEG), PNG, WebP, AVIF, GIF
  (first frame), TIFF, BMP, and HEIC/HEIF through pillow-heif;
* SVG, sanitised and rasterised (:mod:`indexer.svg`);
* camera RAW through LibRaw (:mod:`indexer.raw`).

Outcomes: empty, unknown or unsupported content → 415; a polyglot → 415
(:mod:`indexer.polyglot`); more pixels than ``limits.max_source_pixels`` → 422,
decided from the header alone, before a single pixel is decoded; truncated or corrupt
data → 422 (the full decode is what detects truncation).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from indexer import imaging, svg
from indexer.config import Settings
from indexer.errors import Unprocessable, UnsupportedMedia
from indexer.metadata import Metadata, read_metadata
from indexer.polyglot import reject_polyglot
from indexer.raw import decode_raw, raw_exif

# What Pillow and its plugins raise on hostile or broken data (pillow-heif: RuntimeError).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, struct.error, EOFError, RuntimeError)


@dataclass(frozen=True)
class Decoded:
    picture: Image.Image  # upright, sRGB, RGB or RGBA (RGBA only when some pixel is transparent)
    format: str  # stored format name: jpeg png webp avif gif tiff bmp heif svg dng cr2 …
    metadata: Metadata


def decode(data: bytes, settings: Settings) -> Decoded:
    """Raise UnsupportedMedia (415) or Unprocessable (422) for anything unacceptable."""
    if not data:
        raise UnsupportedMedia("empty file: not an image")
    is_svg = svg.looks_like_svg(data)
    reject_polyglot(data, markup_allowed=is_svg)
    if is_svg:
        return _decode_svg(data, settings)
    return _decode_raw(data, settings) or _decode_raster(data, settings)


def check_pixels(size: tuple[int, int], max_pixels: int, what: str = "image") -> None:
    width, height = size
    if width * height > max_pixels:
        raise Unprocessable(
            f"{what} has {width}x{height} pixels, more than the limit of {max_pixels}"
        )


def _decode_raster(data: bytes, settings: Settings) -> Decoded:
    try:
        image = imaging.open_image(data)
    except UnidentifiedImageError:
        raise UnsupportedMedia("not an image, or an unsupported image format") from None
    except DECODE_ERRORS as error:
        raise Unprocessable("image header is corrupt or truncated", detail=str(error)) from None
    check_pixels(image.size, settings.limits.max_source_pixels)  # header only: bombs stop here
    try:
        image.load()
        picture = imaging.drop_opaque_alpha(imaging.to_srgb(imaging.upright(image)))
    except (*DECODE_ERRORS, Image.DecompressionBombError) as error:
        raise Unprocessable("image is corrupt or truncated", detail=str(error)) from None
    fmt = "jpeg" if image.format == "MPO" else str(image.format).lower()
    return Decoded(picture, fmt, _metadata(lambda: image.getexif(), settings))


def _decode_raw(data: bytes, settings: Settings) -> Decoded | None:
    decoded = decode_raw(data, settings.limits.max_source_pixels)
    if decoded is None:
        return None
    picture, fmt = decoded
    return Decoded(picture, fmt, _metadata(lambda: raw_exif(data), settings))


def _decode_svg(data: bytes, settings: Settings) -> Decoded:
    edge = settings.ingest.svg_raster_edge
    check_pixels((edge, edge), settings.limits.max_source_pixels, "SVG raster")
    picture = svg.rasterise(data, edge, settings.limits.max_source_pixels)
    return Decoded(imaging.drop_opaque_alpha(picture), "svg", Metadata())


def _metadata(exif: Callable[[], Image.Exif], settings: Settings) -> Metadata:
    try:
        return read_metadata(exif(), keep_gps=settings.ingest.keep_gps)
    except DECODE_ERRORS:
        return Metadata()
