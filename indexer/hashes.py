"""Perceptual hashes: 64-bit pHash and dHash of the upright picture.

Both come from ``imagehash`` and are packed into signed 64-bit integers (SQLite's
INTEGER and numpy's int64), so a Hamming distance is ``popcount(a ^ b)``.

pHash decides (distances between unrelated photos are large, ≥ 20 on the corpus);
dHash confirms with a looser threshold, which rejects the rare unrelated pair whose
pHashes happen to be close (measured numbers in README "Duplicates").
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

HASH_SIZE = 8  # 8x8 bits = 64
# Hash a small copy: imagehash resizes to 32x32 (pHash) / 9x8 (dHash) with LANCZOS,
# which on a 24-megapixel photo costs ~100 ms; a box-reduced copy gives the same bits.
_WORK_EDGE = 256

# The 8 orientations (identity, 3 rotations, 4 mirrors) for the optional
# rotation-tolerant lookup.
ORIENTATIONS: tuple[Image.Transpose | None, ...] = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


@dataclass(frozen=True)
class PerceptualHashes:
    phash: int
    dhash: int


def to_signed(bits: np.ndarray) -> int:
    """Pack a boolean bit array (most significant first) into a signed 64-bit int."""
    return int.from_bytes(np.packbits(bits.flatten()).tobytes(), "big", signed=True)


def distance(a: int, b: int) -> int:
    """Hamming distance of two signed 64-bit hashes."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def working_copy(picture: Image.Image) -> Image.Image:
    """A small grayscale copy; hashes only look at coarse structure."""
    small = picture
    if max(picture.size) > _WORK_EDGE:
        scale = _WORK_EDGE / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        small = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if small.mode == "RGBA":
        # Transparent pixels carry arbitrary colour; hash what a viewer sees on white.
        background = Image.new("RGB", small.size, "white")
        background.paste(small, mask=small.getchannel("A"))
        small = background
    return small.convert("L")


def _hash_small(small: Image.Image) -> PerceptualHashes:
    return PerceptualHashes(
        phash=to_signed(imagehash.phash(small, hash_size=HASH_SIZE).hash),
        dhash=to_signed(imagehash.dhash(small, hash_size=HASH_SIZE).hash),
    )


def perceptual_hashes(picture: Image.Image) -> PerceptualHashes:
    """pHash and dHash of an upright picture (as ingest holds it)."""
    return _hash_small(working_copy(picture))


def oriented_hashes(picture: Image.Image) -> list[PerceptualHashes]:
    """Hashes of the 8 rotations and mirrors, identity first."""
    small = working_copy(picture)
    return [_hash_small(small if turn is None else small.transpose(turn)) for turn in ORIENTATIONS]
