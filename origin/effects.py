"""Filters applied to the resized picture: ``blur``, ``sharpen``, ``gray``, ``sepia``.

Each runs on the output pixels (so sigmas are in output pixels, like imgproxy's), before
padding, so a ``contain`` background keeps the colour the URL asked for.  Transparent
pictures are filtered premultiplied ("RGBa"): otherwise the colour hidden under fully
transparent pixels would bleed into the visible edge.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageFilter

# Sharpening strength: unsharp mask at 100 % with no threshold, a visible but natural
# amount at the sigmas people use (0.5..2).
SHARPEN_PERCENT = 100
# Microsoft's sepia matrix (the one CSS ``sepia(1)`` uses), as Pillow's RGB→RGB matrix.
SEPIA_MATRIX = (
    0.393, 0.769, 0.189, 0.0,
    0.349, 0.686, 0.168, 0.0,
    0.272, 0.534, 0.131, 0.0,
)  # fmt: skip


def _filtered(image: Image.Image, apply: Callable[[Image.Image], Image.Image]) -> Image.Image:
    if image.mode == "RGBA":
        return apply(image.convert("RGBa")).convert("RGBA")
    return apply(image)


def _colour_mapped(
    image: Image.Image, convert: Callable[[Image.Image], Image.Image]
) -> Image.Image:
    """Map the colour bands of an RGB/RGBA picture, keeping alpha untouched."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    mapped = convert(image.convert("RGB"))
    if alpha is not None:
        mapped.putalpha(alpha)
    return mapped


def blur(image: Image.Image, sigma: float) -> Image.Image:
    return _filtered(image, lambda picture: picture.filter(ImageFilter.GaussianBlur(sigma)))


def sharpen(image: Image.Image, sigma: float) -> Image.Image:
    mask = ImageFilter.UnsharpMask(radius=sigma, percent=SHARPEN_PERCENT, threshold=0)
    return _filtered(image, lambda picture: picture.filter(mask))


def gray(image: Image.Image) -> Image.Image:
    """Rec. 601 luma in all three bands, so every pixel has R = G = B."""
    return _colour_mapped(image, lambda picture: picture.convert("L").convert("RGB"))


def sepia(image: Image.Image) -> Image.Image:
    return _colour_mapped(image, lambda picture: picture.convert("RGB", SEPIA_MATRIX))
