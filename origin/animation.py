"""Animated GIF and WebP: read every frame of the original, write an animation.

The pyramid made at ingest holds the first frame only, so animated output is always
rendered from the original.  At most ``limits.max_frames`` frames are rendered (the
rest are dropped, the animation ends early); their durations and the loop count are
kept.  Output formats other than GIF and WebP get the first frame, like any still.
Pillow's GIF writer merges consecutive identical frames (adding their durations), so
a GIF may come out with fewer frames but the same timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageSequence

from indexer import imaging
from indexer.catalog import ImageRecord
from indexer.errors import BadRequest
from origin.formats import EncoderSettings

ANIMATED_OUTPUTS = frozenset({"gif", "webp"})


@dataclass
class Animation:
    frames: list[Image.Image] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)  # milliseconds, one per frame
    loop: int | None = None  # 0 = forever; None = play once (GIF without a loop block)


def is_animated(record: ImageRecord, fmt: str) -> bool:
    return record.frames > 1 and fmt in ANIMATED_OUTPUTS


def check_budget(frames: int, canvas: tuple[int, int], max_pixels: int) -> None:
    """All frames are held in memory: bound frames x pixels like one big output."""
    total = frames * canvas[0] * canvas[1]
    if total > max_pixels:
        raise BadRequest(
            f"animated output of {frames} frames of {canvas[0]}x{canvas[1]} pixels exceeds"
            f" the limit of {max_pixels} pixels; ask for a smaller size or a still format"
        )


def source_frames(original: Path, limit: int) -> Iterator[tuple[Image.Image, int, int | None]]:
    """(frame as RGBA, duration in ms, loop count) for the first ``limit`` frames.

    Pillow composites each GIF/WebP frame onto the previous ones (disposal handled),
    so every frame is a full picture."""
    with imaging.open_image(str(original)) as source:
        loop = source.info.get("loop")
        for index, frame in enumerate(ImageSequence.Iterator(source)):
            if index >= limit:
                return
            picture = frame.convert("RGBA")  # decodes the frame, which sets its duration
            duration = int(frame.info.get("duration", 0) or 0)
            yield picture, duration, None if loop is None else int(loop)


def encode_animation(animation: Animation, fmt: str, settings: EncoderSettings) -> bytes:
    """Encode with metadata stripped, like :func:`origin.formats.encode`."""
    first, *rest = animation.frames
    first.info = {}
    buffer = BytesIO()
    params: dict[str, Any] = {
        "save_all": True,
        "append_images": rest,
        "duration": animation.durations,
    }
    if fmt == "webp":
        # WebP always stores a loop count; a play-once GIF becomes loop 1.
        params["loop"] = 1 if animation.loop is None else animation.loop
        first.save(buffer, "WEBP", quality=settings.quality, method=settings.webp_method,
                   **params)
    else:
        if animation.loop is not None:
            params["loop"] = animation.loop
        first.save(buffer, "GIF", optimize=False, disposal=2, **params)
    return buffer.getvalue()
