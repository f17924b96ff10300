"""Ingest: validate an upload by content, store it durably, derive what renders need.

Order matters for crash safety: the original is written and fsynced first, then the
derived files (pyramid), then the row is committed.  A crash before the commit leaves
only a content-addressed file that ``pictor doctor`` recognises and a re-run of the
ingest completes; a 201 is only sent after the commit.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import blurhash
import numpy
from PIL import Image, UnidentifiedImageError

from indexer import imaging
from indexer.atomic import write_atomic
from indexer.catalog import ImageRecord, get_image, insert_image
from indexer.config import Settings
from indexer.errors import Conflict, PayloadTooLarge, Unprocessable, UnsupportedMedia
from indexer.layout import DataLayout
from indexer.pyramid import build_pyramid

ID_LENGTH = 20
BLURHASH_COMPONENTS = (4, 3)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str = ""
    title: str = ""
    alt: str = ""
    description: str = ""
    focal: tuple[float, float] | None = None


def image_id_for(data: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    return digest[:ID_LENGTH], digest


def ingest(
    connection: sqlite3.Connection, layout: DataLayout, settings: Settings, upload: Upload
) -> ImageRecord:
    """Store one image and return its record; raise a PictorError for any bad input."""
    data = upload.data
    if len(data) > settings.limits.max_upload_bytes:
        raise PayloadTooLarge(f"upload is larger than {settings.limits.max_upload_bytes} bytes")
    image_id, sha256 = image_id_for(data)
    if (existing := get_image(connection, image_id)) is not None:
        raise Conflict(f"image already exists: {existing.id}", existing_id=existing.id)
    picture, fmt = _decode(data, settings.limits.max_source_pixels)
    write_atomic(layout.original(image_id), data, durable=True)
    levels = build_pyramid(picture, layout.pyramid_dir(image_id), settings.output.pyramid_sizes)
    record = ImageRecord(
        id=image_id,
        sha256=sha256,
        bytes=len(data),
        width=picture.width,
        height=picture.height,
        format=fmt.lower(),
        has_alpha=picture.mode == "RGBA",
        filename=Path(upload.filename).name[:255],
        title=upload.title,
        alt=upload.alt,
        description=upload.description,
        focal_x=upload.focal[0] if upload.focal else None,
        focal_y=upload.focal[1] if upload.focal else None,
        blurhash=_blurhash(picture),
        pyramid=levels,
        frames=imaging.frame_count(data),
    )
    try:
        insert_image(connection, record)
    except sqlite3.IntegrityError:
        # Same bytes uploaded concurrently: the other request won the insert.
        raise Conflict(f"image already exists: {image_id}", existing_id=image_id) from None
    return record


def _decode(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """Sniff the format by content, check the pixel budget from the header, then decode
    fully (which is what detects truncation).  Returns the upright sRGB picture."""
    try:
        image = imaging.open_image(data)
    except UnidentifiedImageError:
        raise UnsupportedMedia("not an image, or an unsupported image format") from None
    fmt = image.format or ""
    if fmt not in imaging.INPUT_FORMATS:
        raise UnsupportedMedia(f"unsupported image format {fmt or 'unknown'}")
    width, height = image.size
    if width * height > max_pixels:
        raise Unprocessable(
            f"image has {width}x{height} pixels, more than the limit of {max_pixels}"
        )
    try:
        image.load()
        picture = imaging.drop_opaque_alpha(imaging.to_srgb(imaging.upright(image)))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise Unprocessable("image is corrupt or truncated", detail=str(error)) from None
    return picture, "jpeg" if fmt == "MPO" else fmt


def _blurhash(picture: Image.Image) -> str:
    small = picture.convert("RGB")
    small.thumbnail((64, 64))
    return str(blurhash.encode(numpy.asarray(small), *BLURHASH_COMPONENTS))
