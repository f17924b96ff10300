"""Pillow helpers shared by ingest (pyramid, hashes) and the renderer.

Everything that turns "some image file" into "an upright sRGB RGB/RGBA picture"
lives here, so both sides agree on what an image looks like.
"""

from __future__ import annotations

import io
from typing import IO

from PIL import Image, ImageCms, ImageOps

# Pictor enforces its own configurable pixel limit before decoding (limits.max_source_pixels);
# Pillow's global guard would otherwise fire at a different, fixed threshold.
Image.MAX_IMAGE_PIXELS = None

# Raster formats Pillow may open.  Restricting ``Image.open`` to these keeps untrusted
# bytes away from Pillow's many exotic parsers (EPS via Ghostscript, TGA which has no
# magic number and "recognises" random bytes, PSD, ...).  SVG and camera RAW are
# handled outside Pillow (indexer.svg, indexer.raw).
INPUT_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "AVIF", "GIF", "TIFF", "BMP", "MPO", "HEIF"})
_SRGB = ImageCms.createProfile("sRGB")
_SRGB_BYTES = ImageCms.ImageCmsProfile(_SRGB).tobytes()


def register_optional_openers() -> None:
    """HEIC/HEIF (iPhone photos) through pillow-heif, when it is installed."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - pillow-heif is a core dependency
        return
    pillow_heif.register_heif_opener()


register_optional_openers()
Image.init()
# MPO has no opener of its own (the JPEG opener returns MPO images).
_OPENABLE = tuple(sorted(name for name in INPUT_FORMATS if name in Image.OPEN))


def open_image(source: str | IO[bytes] | bytes) -> Image.Image:
    """Open lazily: only the header is read, no pixel is decoded until ``load()``.

    Raises PIL.UnidentifiedImageError for anything that is not one of INPUT_FORMATS.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    return Image.open(source, formats=_OPENABLE)


ANIMATED_FORMATS = frozenset({"GIF", "WEBP"})


def frame_count(source: bytes) -> int:
    """Frames of an animated GIF or WebP; 1 for every other image.  Counting seeks
    through frame headers without decoding pixels."""
    try:
        with open_image(source) as image:
            if image.format not in ANIMATED_FORMATS:
                return 1
            return max(1, int(getattr(image, "n_frames", 1)))
    except (OSError, ValueError, SyntaxError):
        return 1


def oriented_size(image: Image.Image) -> tuple[int, int]:
    """Size after EXIF orientation, read from the header without decoding pixels."""
    orientation = image.getexif().get(0x0112, 1)
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def upright(image: Image.Image) -> Image.Image:
    return ImageOps.exif_transpose(image) or image


def to_srgb(image: Image.Image) -> Image.Image:
    """Return an RGB or RGBA image in sRGB, whatever mode and profile came in."""
    image = _eight_bit(image)
    profile = image.info.get("icc_profile")
    if profile and profile != _SRGB_BYTES:
        converted = _convert_profile(image, profile)
        if converted is not None:
            return converted
    return _rgb_or_rgba(image)


def has_alpha(image: Image.Image) -> bool:
    """True when some pixel is not fully opaque (not merely an alpha channel present)."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return False
    low, _high = image.convert("RGBA").getchannel("A").getextrema()
    return isinstance(low, int) and low < 255


def drop_opaque_alpha(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        return image.convert("RGB")
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale: scale into 0..255 instead of clipping."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        info = image.info
        scaled = image.convert("I").point(lambda value: value / 256).convert("L")
        scaled.info = info
        return scaled
    if image.mode == "F":
        return image.point(lambda value: value * 255).convert("L")
    return image


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("LA", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _convert_profile(image: Image.Image, profile: bytes) -> Image.Image | None:
    """Convert through littleCMS; a broken profile falls back to plain conversion."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        base = image.convert("RGB") if image.mode in ("P", "1", "RGBA", "LA") else image
        output = ImageCms.profileToProfile(base, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if output is None:  # pragma: no cover - only with inPlace=True
        return None
    if alpha is not None:
        output.putalpha(alpha)
    return output
