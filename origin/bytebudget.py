"""``maxb``: the largest acceptable output in bytes.

Encoded size falls (nearly) monotonically with quality, so a binary search over the
quality finds the best quality that fits in ~7 encodes instead of up to 100.  The
requested quality is tried first (most outputs already fit: one encode), then the
lowest quality (when even that is too big the answer is 422 at once).  Lossless
formats have no quality to trade: they fit or they are refused.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.errors import Unprocessable

MIN_QUALITY = 1
LOSSLESS = frozenset({"png", "gif"})


def encode_within(
    encode_at: Callable[[int], bytes], quality: int, max_bytes: int | None, fmt: str
) -> bytes:
    """The output at the highest quality <= ``quality`` whose size is <= ``max_bytes``."""
    data = encode_at(quality)
    if max_bytes is None or len(data) <= max_bytes:
        return data
    if fmt in LOSSLESS or quality <= MIN_QUALITY:
        raise _too_big(fmt, len(data), max_bytes, "it has no quality to lower" if fmt in
                       LOSSLESS else f"already at quality {quality}")
    best = encode_at(MIN_QUALITY)
    if len(best) > max_bytes:
        raise _too_big(fmt, len(best), max_bytes, f"even at quality {MIN_QUALITY}")
    fits, too_big = MIN_QUALITY, quality
    while too_big - fits > 1:
        middle = (fits + too_big) // 2
        data = encode_at(middle)
        if len(data) <= max_bytes:
            fits, best = middle, data
        else:
            too_big = middle
    return best


def _too_big(fmt: str, size: int, max_bytes: int, why: str) -> Unprocessable:
    return Unprocessable(
        f"the {fmt} output is {size} bytes, {why}; it cannot fit maxb_{max_bytes}"
    )
