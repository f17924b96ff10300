"""The resolution pyramid: downscaled copies of each original, made at ingest.

Decoding a 16-megapixel JPEG costs far more than resizing it; a miss renders from
the smallest level that still has enough pixels instead.  Levels are already upright
and sRGB, so the renderer skips orientation and colour work for them.  Opaque levels
are JPEG q95 4:4:4 (fast to decode, visually lossless); transparent ones PNG level 1.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image

from indexer.atomic import write_atomic


def level_name(long_edge: int, alpha: bool) -> str:
    return f"{long_edge}.{'png' if alpha else 'jpg'}"


def build_pyramid(picture: Image.Image, directory: Path, sizes: list[int]) -> tuple[int, ...]:
    """Write every level smaller than the picture; return their long edges, largest first."""
    made = []
    current = picture
    for long_edge in sorted(sizes, reverse=True):
        if long_edge >= max(picture.size):
            continue
        scale = long_edge / max(current.size)
        size = (max(1, round(current.width * scale)), max(1, round(current.height * scale)))
        current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        write_atomic(directory / level_name(long_edge, current.mode == "RGBA"), _encode(current))
        made.append(long_edge)
    return tuple(made)


def _encode(level: Image.Image) -> bytes:
    buffer = BytesIO()
    if level.mode == "RGBA":
        level.save(buffer, "PNG", compress_level=1)
    else:
        level.save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue()
