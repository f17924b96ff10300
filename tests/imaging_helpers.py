"""Image helpers for tests: perceptual comparison and crafted inputs."""

from __future__ import annotations

import io
import struct

import imagehash
from PIL import Image, ImageCms, ImageOps


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def difference(a: Image.Image, b: Image.Image, size: int = 64) -> float:
    """Mean absolute difference (0..255) of two pictures scaled to the same small size."""
    small_a = a.convert("RGB").resize((size, size), Image.Resampling.BOX)
    small_b = b.convert("RGB").resize((size, size), Image.Resampling.BOX)
    pixels_a, pixels_b = small_a.tobytes(), small_b.tobytes()
    return sum(abs(x - y) for x, y in zip(pixels_a, pixels_b, strict=True)) / len(pixels_a)


def phash_distance(a: Image.Image, b: Image.Image) -> int:
    return int(imagehash.phash(a.convert("RGB")) - imagehash.phash(b.convert("RGB")))


def assert_looks_like(a: Image.Image, b: Image.Image, *, max_mean: float = 8.0) -> None:
    mean = difference(a, b)
    assert mean <= max_mean, f"pictures differ: mean abs difference {mean:.1f}"
    assert phash_distance(a, b) <= 10


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels are transformed so that applying EXIF ``orientation``
    shows ``image`` upright again (what a camera writes)."""
    inverse = {
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_270],
    }[orientation]
    stored = image
    for transpose in inverse:
        stored = stored.transpose(transpose)
    assert (ImageOps.exif_transpose(_tagged(stored, orientation)) or stored).size == image.size
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def _tagged(image: Image.Image, orientation: int) -> Image.Image:
    copy = image.copy()
    exif = copy.getexif()
    exif[0x0112] = orientation
    copy.info["exif"] = exif.tobytes()
    return copy


def swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red and green colorants are swapped: a pixel stored as
    pure red *means* green.  Built from Pillow's sRGB profile by swapping two tag
    offsets, so a renderer that ignores profiles gets the colour visibly wrong."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    entries = {}
    for index in range(count):
        at = 132 + 12 * index
        signature = bytes(data[at : at + 4])
        entries[signature] = at
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    data[red + 4 : red + 12], data[green + 4 : green + 12] = (
        data[green + 4 : green + 12],
        data[red + 4 : red + 12],
    )
    data[84:100] = bytes(16)  # clear the profile id: its MD5 no longer matches
    return bytes(data)
