"""Rasterised masters for originals the renderer cannot decode itself (SVG, camera RAW).

The original keeps the uploaded bytes; next to the pyramid levels a full-size,
upright, sRGB ``master`` is written at ingest, and the renderer reads its pixels from
there (and from the smaller pyramid levels) instead.  Opaque masters are JPEG q95
4:4:4 like the pyramid levels, transparent ones PNG.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image

from indexer.atomic import write_atomic
from indexer.catalog import ImageRecord
from indexer.raw import RAW_FORMATS

MASTER_FORMATS = frozenset({"svg", *RAW_FORMATS})


def needs_master(fmt: str) -> bool:
    return fmt in MASTER_FORMATS


def master_name(alpha: bool) -> str:
    return "master.png" if alpha else "master.jpg"


def pixel_source(record: ImageRecord, original: Path, pyramid_dir: Path) -> Path:
    """The file whose pixels stand for this image at full size."""
    if needs_master(record.format):
        return pyramid_dir / master_name(record.has_alpha)
    return original


def write_master(picture: Image.Image, directory: Path) -> Path:
    target = directory / master_name(picture.mode == "RGBA")
    buffer = BytesIO()
    if picture.mode == "RGBA":
        picture.save(buffer, "PNG", compress_level=1)
    else:
        picture.save(buffer, "JPEG", quality=95, subsampling=0)
    write_atomic(target, buffer.getvalue())
    return target
