"""Watermarks (``wm``, ``wmpos``, ``wmop``) and text (``txt``, ``txtsize``, ``txtcolor``,
``txtpos``) laid over the finished canvas.

Both become an RGBA *layer* that is composited at a compass position with a margin.
Watermark layers are cached across renders (a small LRU keyed by file, modification
time, size and opacity; a layer is never larger than its file's pixels); text layers
are cached per render, so the frames of an animation share one.  Cached layers are
only ever read.

Watermarks keep their aspect ratio, fit within ``size`` times the output's width and
height, and are never enlarged beyond their own pixels (a logo stays crisp); the
output's size never changes.  Text is drawn with a TrueType font that ships with
Pictor (DejaVu Sans Bold, which covers Latin, Greek, Cyrillic, Arabic and Hebrew) on a
half-transparent box that keeps it legible on any picture.  With libraqm, Pillow lays
out right-to-left and complex scripts; without it, the basic layout draws them
unshaped but never fails.  Glyphs the font lacks (CJK, emoji) render as boxes.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from indexer.config import WatermarkSettings
from indexer.errors import BadRequest

BUNDLED_FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans-Bold.ttf"
TEXT_MARGIN = 0.02  # fraction of the output's shorter side
TEXT_AUTO_SIZE = 0.06  # default text height: fraction of the output's shorter side
TEXT_MIN_SIZE = 4
BOX_PADDING = 0.3  # box padding, fraction of the font size
BOX_ALPHA = 128
_X = {"w": 0.0, "nw": 0.0, "sw": 0.0, "e": 1.0, "ne": 1.0, "se": 1.0}
_Y = {"n": 0.0, "nw": 0.0, "ne": 0.0, "s": 1.0, "sw": 1.0, "se": 1.0}
_ALIGN = {0.0: "left", 0.5: "center", 1.0: "right"}

Colour = tuple[int, int, int, int]
_local = threading.local()


def watermark_for(
    watermarks: dict[str, WatermarkSettings], name: str | None
) -> WatermarkSettings | None:
    """The configured watermark called ``name``; unknown names are a 400 naming them."""
    if name is None:
        return None
    if name not in watermarks:
        raise BadRequest(f"unknown watermark {name!r} in option 'wm_{name}'")
    return watermarks[name]


def add_watermark(
    image: Image.Image, mark: WatermarkSettings, position: str | None, opacity: float | None
) -> Image.Image:
    opacity = mark.opacity if opacity is None else opacity
    if opacity <= 0:
        return image
    box = (max(1, round(image.width * mark.size)), max(1, round(image.height * mark.size)))
    path = mark.path.resolve()
    layer = _watermark_layer(str(path), path.stat().st_mtime_ns, box, opacity)
    margin = round(mark.margin * min(image.size))
    return composite(image, layer, position or mark.position, margin)


@lru_cache(maxsize=32)
def _watermark_layer(
    path: str, mtime_ns: int, box: tuple[int, int], opacity: float
) -> Image.Image:
    with Image.open(path) as source:
        mark = source.convert("RGBA")
    scale = min(box[0] / mark.width, box[1] / mark.height, 1.0)
    size = (max(1, round(mark.width * scale)), max(1, round(mark.height * scale)))
    if size != mark.size:
        mark = mark.resize(size, Image.Resampling.LANCZOS)
    if opacity < 1:
        mark.putalpha(mark.getchannel("A").point(lambda alpha: round(alpha * opacity)))
    return mark


def add_text(
    image: Image.Image,
    text: str,
    size: int | None,
    colour: Colour,
    position: str,
    font: Path,
    cache: dict[tuple[object, ...], Image.Image] | None = None,
) -> Image.Image:
    """``cache`` (one per render) lets the frames of an animation share one layer."""
    margin = round(TEXT_MARGIN * min(image.size))
    size = size or max(TEXT_MIN_SIZE, round(TEXT_AUTO_SIZE * min(image.size)))
    align = _ALIGN[_X.get(position, 0.5)]
    key = (text, size, colour, align, str(font), image.width - 2 * margin)
    layer = cache.get(key) if cache is not None else None
    if layer is None:
        layer = _text_layer(text, _fitting_size(text, size, align, str(font), key[-1]),
                            colour, align, str(font))
        if cache is not None:
            cache[key] = layer
    return composite(image, layer, position, margin)


def _fitting_size(text: str, size: int, align: str, font_path: str, room: int) -> int:
    """``size``, or smaller so the text fits ``room`` pixels (measured, not drawn; text
    that does not fit even at the smallest size is clipped)."""
    left, _top, right, _bottom = _text_box(text, size, align, font_path)
    width = right - left + 2 * _padding(size)
    if width <= room or room <= 0:
        return size
    return max(TEXT_MIN_SIZE, int(size * room / width))


def _text_layer(text: str, size: int, colour: Colour, align: str, font_path: str) -> Image.Image:
    left, top, right, bottom = _text_box(text, size, align, font_path)
    padding = _padding(size)
    layer = Image.new("RGBA", (right - left + 2 * padding, bottom - top + 2 * padding),
                      _box(colour))
    ImageDraw.Draw(layer).multiline_text(
        (padding - left, padding - top), text, font=_font(font_path, size), fill=colour,
        align=align,
    )
    return layer


def _text_box(text: str, size: int, align: str, font_path: str) -> tuple[int, int, int, int]:
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    box = measure.multiline_textbbox((0, 0), text, font=_font(font_path, size), align=align)
    left, top, right, bottom = (round(edge) for edge in box)
    return left, top, right, bottom


def _padding(size: int) -> int:
    return max(1, round(size * BOX_PADDING))


def _box(colour: Colour) -> Colour:
    """Dark box behind light text, light box behind dark text."""
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (255, 255, 255, BOX_ALPHA) if luma < 128 else (0, 0, 0, BOX_ALPHA)


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Fonts per thread: a FreeType face must not be used by two threads at once."""
    fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = _local.__dict__.setdefault("fonts", {})
    if (path, size) not in fonts:
        if len(fonts) > 32:
            fonts.clear()
        fonts[(path, size)] = ImageFont.truetype(path, size)
    return fonts[(path, size)]


def composite(image: Image.Image, layer: Image.Image, position: str, margin: int) -> Image.Image:
    """``layer`` over ``image`` at a compass position, ``margin`` pixels from the edges."""
    x = _offset(image.width, layer.width, margin, _X.get(position, 0.5))
    y = _offset(image.height, layer.height, margin, _Y.get(position, 0.5))
    if image.mode == "RGBA":
        if x >= 0 and y >= 0:
            image.alpha_composite(layer, (x, y))
        else:
            _clipped(image, layer, x, y)
        return image
    image = image.convert("RGB")
    image.paste(layer.convert("RGB"), (x, y), layer)
    return image


def _clipped(image: Image.Image, layer: Image.Image, x: int, y: int) -> None:
    """``alpha_composite`` refuses negative offsets: go through a full-size layer."""
    full = Image.new("RGBA", image.size, (0, 0, 0, 0))
    full.paste(layer, (x, y))
    image.alpha_composite(full)


def _offset(outer: int, inner: int, margin: int, anchor: float) -> int:
    if anchor == 0.0:
        return margin
    if anchor == 1.0:
        return outer - inner - margin
    return (outer - inner) // 2
