"""Output geometry, computed once per render from the source size and the options.

Pure arithmetic, no Pillow.  Coordinates are in the *oriented* source (EXIF
orientation and ``rot`` already applied).  The size rules are DESIGN §2's:

* never distort: the picture is always scaled by one factor on both axes;
* never upscale unless ``enlarge``;
* ``inside`` fits within the box; ``cover`` fills the box and crops the overflow
  (without ``enlarge`` and when the box exceeds the source: the largest box of the
  requested aspect ratio inside the source); ``contain`` always returns the exact box,
  the picture centred on the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from origin.options import Options

Size = tuple[int, int]
Box = tuple[float, float, float, float]

_COMPASS_X = {"w": 0.0, "nw": 0.0, "sw": 0.0, "e": 1.0, "ne": 1.0, "se": 1.0}
_COMPASS_Y = {"n": 0.0, "nw": 0.0, "ne": 0.0, "s": 1.0, "sw": 1.0, "se": 1.0}


@dataclass(frozen=True)
class Geometry:
    crop: Box  # region of the oriented source that becomes the picture (left, top, right, bottom)
    size: Size  # size the region is resized to
    canvas: Size  # final output size; larger than ``size`` only for ``contain`` padding
    offset: Size  # where the picture sits on the canvas

    @property
    def scale(self) -> float:
        """Output pixels per source pixel (the smaller of the two axes)."""
        left, top, right, bottom = self.crop
        return min(self.size[0] / (right - left), self.size[1] / (bottom - top))

    @property
    def pixels(self) -> int:
        return self.canvas[0] * self.canvas[1]


def round_half_up(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def target_box(options: Options) -> tuple[int | None, int | None]:
    """The requested box in device pixels: CSS pixels times ``dpr``."""
    width = round_half_up(options.w * options.dpr) if options.w else None
    height = round_half_up(options.h * options.dpr) if options.h else None
    return width, height


def plan(source: Size, options: Options, stored_focal: tuple[float, float] | None) -> Geometry:
    width, height = target_box(options)
    if width is None and height is None:
        return _whole(source, source)
    if width is None or height is None or options.fit == "inside":
        return _inside(source, width, height, options.enlarge)
    if options.fit == "cover":
        focal = options.focal or (stored_focal if options.gravity == "focal" else None)
        return _cover(source, (width, height), options, focal)
    return _contain(source, (width, height), options.enlarge)


def _whole(source: Size, size: Size) -> Geometry:
    return Geometry((0, 0, source[0], source[1]), size, size, (0, 0))


def _inside(source: Size, width: int | None, height: int | None, enlarge: bool) -> Geometry:
    scales = [box / side for box, side in ((width, source[0]), (height, source[1])) if box]
    scale = min(scales)
    if scale >= 1 and not enlarge:
        return _whole(source, source)
    size = (round_half_up(source[0] * scale), round_half_up(source[1] * scale))
    return _whole(source, size)


def _contain(source: Size, box: Size, enlarge: bool) -> Geometry:
    scale = min(box[0] / source[0], box[1] / source[1])
    if not enlarge:
        scale = min(scale, 1.0)
    size = (
        min(box[0], round_half_up(source[0] * scale)),
        min(box[1], round_half_up(source[1] * scale)),
    )
    offset = ((box[0] - size[0]) // 2, (box[1] - size[1]) // 2)
    return Geometry((0, 0, source[0], source[1]), size, box, offset)


def _cover(
    source: Size, box: Size, options: Options, focal: tuple[float, float] | None
) -> Geometry:
    scale = max(box[0] / source[0], box[1] / source[1])
    if scale <= 1 or options.enlarge:
        region = (box[0] / scale, box[1] / scale)
        size = box
    else:
        # The box is larger than the source: keep the requested shape at 1:1.
        aspect = box[0] / box[1]
        if source[0] / source[1] > aspect:
            region = (min(source[0], round_half_up(source[1] * aspect)), source[1])
        else:
            region = (source[0], min(source[1], round_half_up(source[0] / aspect)))
        size = (int(region[0]), int(region[1]))
    left, top = _place(source, region, options.gravity, focal)
    crop = (left, top, left + region[0], top + region[1])
    return Geometry(crop, size, size, (0, 0))


def _place(
    source: Size, region: tuple[float, float], gravity: str, focal: tuple[float, float] | None
) -> tuple[float, float]:
    """Top-left corner of the crop region, by focal point or compass gravity."""
    free_x, free_y = source[0] - region[0], source[1] - region[1]
    if focal is not None:
        left = focal[0] * source[0] - region[0] / 2
        top = focal[1] * source[1] - region[1] / 2
        return min(max(left, 0.0), free_x), min(max(top, 0.0), free_y)
    return free_x * _COMPASS_X.get(gravity, 0.5), free_y * _COMPASS_Y.get(gravity, 0.5)
