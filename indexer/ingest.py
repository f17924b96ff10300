"""Ingest: validate an upload by content, store it durably, derive what renders need.

Order matters for crash safety (``kill -9`` or a power cut at any instant):

1. the original is written to a temp file, fsynced, renamed, and its directory fsynced;
2. the derived files (rasterised master, pyramid levels) are written and fsynced;
3. only then is the row committed (SQLite, ``synchronous = FULL``).

A crash before 3 leaves files without a row: ``pictor doctor`` reports them and
``--repair`` (or simply ingesting the same file again) completes the ingest.  A row
therefore never points at a missing or half-written file, and an upload is only
acknowledged (201) after the commit.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import blurhash
import numpy
from PIL import Image

from indexer import imaging
from indexer.atomic import fsync_directory, write_atomic
from indexer.catalog import ImageRecord, get_image, insert_image
from indexer.config import Settings
from indexer.decode import Decoded, decode
from indexer.duplicates import check_upload
from indexer.errors import Conflict, PayloadTooLarge
from indexer.layout import DataLayout
from indexer.masters import needs_master, write_master
from indexer.pyramid import build_pyramid, level_name

ID_LENGTH = 20
BLURHASH_INPUT_EDGE = 32  # the placeholder has 4x3 components; more input pixels add nothing

Profile = dict[str, float]


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
    connection: sqlite3.Connection,
    layout: DataLayout,
    settings: Settings,
    upload: Upload,
    profile: Profile | None = None,
) -> ImageRecord:
    """Store one image and return its record; raise a PictorError for any bad input.

    ``profile``, when given, receives the seconds spent per phase (for the benchmark).
    """
    data = upload.data
    if len(data) > settings.limits.max_upload_bytes:
        raise PayloadTooLarge(f"upload is larger than {settings.limits.max_upload_bytes} bytes")
    with phase(profile, "hash"):
        image_id, sha256 = image_id_for(data)
    if (existing := get_image(connection, image_id)) is not None:
        raise Conflict(f"image already exists: {existing.id}", existing_id=existing.id)
    with phase(profile, "decode"):
        decoded = decode(data, settings)
    with phase(profile, "near-duplicates"):  # 409 here when rejecting near-duplicates
        hashes = check_upload(connection, settings.ingest, decoded.picture)
    with phase(profile, "original"):
        write_atomic(layout.original(image_id), data, durable=True)
    sizes = settings.output.pyramid_sizes
    levels = write_derived(decoded, layout.pyramid_dir(image_id), sizes, profile)
    with phase(profile, "blurhash"):
        placeholder = blurhash_of(decoded.picture) if settings.ingest.blurhash else ""
    record = _record(image_id, sha256, data, upload, decoded, levels, placeholder)
    record = replace(record, phash=hashes.phash, dhash=hashes.dhash)
    try:
        with phase(profile, "commit"):
            insert_image(connection, record)
    except sqlite3.IntegrityError:
        # Same bytes uploaded concurrently: the other request won the insert.
        raise Conflict(f"image already exists: {image_id}", existing_id=image_id) from None
    return record


def write_derived(
    decoded: Decoded, directory: Path, sizes: list[int], profile: Profile | None = None
) -> tuple[int, ...]:
    """Master (SVG, RAW) and pyramid levels, fsynced; returns the levels' long edges.
    ``pictor doctor`` calls this too, to rebuild a broken pyramid."""
    picture = decoded.picture
    written = []
    with phase(profile, "pyramid"):
        if needs_master(decoded.format):
            written.append(write_master(picture, directory))
        levels = build_pyramid(picture, directory, sizes)
    alpha = picture.mode == "RGBA"
    written.extend(directory / level_name(edge, alpha) for edge in levels)
    with phase(profile, "fsync"):
        sync_files(written)
    return levels


def sync_files(paths: list[Path]) -> None:
    """fsync each file, then each directory holding them (the renames)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for directory in {path.parent for path in paths}:
        fsync_directory(directory)


def blurhash_of(picture: Image.Image) -> str:
    """A BlurHash placeholder; transparency is flattened onto white (the renderer's
    default background), and the component grid follows the orientation."""
    small = picture.copy()
    small.thumbnail((BLURHASH_INPUT_EDGE, BLURHASH_INPUT_EDGE), reducing_gap=2.0)
    if small.mode == "RGBA":
        canvas = Image.new("RGB", small.size, (255, 255, 255))
        canvas.paste(small, mask=small.getchannel("A"))
        small = canvas
    components = (4, 3) if small.width >= small.height else (3, 4)
    return str(blurhash.encode(numpy.asarray(small.convert("RGB")), *components))


@contextmanager
def phase(profile: Profile | None, name: str) -> Iterator[None]:
    if profile is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        profile[name] = profile.get(name, 0.0) + time.perf_counter() - started


def _record(
    image_id: str,
    sha256: str,
    data: bytes,
    upload: Upload,
    decoded: Decoded,
    levels: tuple[int, ...],
    placeholder: str,
) -> ImageRecord:
    picture, metadata = decoded.picture, decoded.metadata
    return ImageRecord(
        id=image_id,
        sha256=sha256,
        bytes=len(data),
        width=picture.width,
        height=picture.height,
        format=decoded.format,
        has_alpha=picture.mode == "RGBA",
        filename=Path(upload.filename).name[:255],
        title=upload.title,
        alt=upload.alt,
        description=upload.description,
        focal_x=upload.focal[0] if upload.focal else None,
        focal_y=upload.focal[1] if upload.focal else None,
        blurhash=placeholder,
        pyramid=levels,
        taken_at=metadata.taken_at,
        camera=metadata.camera,
        gps_lat=metadata.gps[0] if metadata.gps else None,
        gps_lon=metadata.gps[1] if metadata.gps else None,
        frames=imaging.frame_count(data),
    )
