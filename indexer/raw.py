"""Camera RAW input (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF, …) through rawpy/LibRaw.

Only bytes that carry a RAW signature reach LibRaw (a C parser of untrusted data):
the TIFF family (DNG and most vendor formats are TIFF inside) and the few vendor
containers with their own magic.  An ordinary TIFF is refused by LibRaw and falls
through to Pillow.  RAW is checked before Pillow because Pillow opens many TIFF-based
RAW files as a TIFF and would store their small embedded preview instead of the photo.

The pixel limit is applied to LibRaw's header sizes before anything is unpacked.
The result is demosaiced with the camera's white balance into 8-bit sRGB, already
upright (LibRaw applies the orientation flag).
"""

from __future__ import annotations

import io
from types import ModuleType

from PIL import Image

from indexer.errors import Unprocessable

try:
    import rawpy as _rawpy

    rawpy: ModuleType | None = _rawpy
except ImportError:  # pragma: no cover - rawpy is a core dependency
    rawpy = None

TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
OWN_MAGIC = {b"IIRO": "orf", b"IIRS": "orf", b"MMOR": "orf", b"IIU\x00": "rw2"}
DNG_VERSION_TAG = 50706
VENDOR_BY_MAKE = {"NIKON": "nef", "SONY": "arw", "PENTAX": "pef", "SAMSUNG": "srw"}
RAW_FORMATS = frozenset(
    {"dng", "cr2", "cr3", "orf", "rw2", "raf", *VENDOR_BY_MAKE.values(), "raw"}
)


def raw_format(data: bytes) -> str | None:
    """The RAW flavour by signature, or None when the bytes cannot be a RAW file."""
    if data[:15] == b"FUJIFILMCCD-RAW":
        return "raf"
    if data[4:12] == b"ftypcrx ":
        return "cr3"
    if data[:4] in OWN_MAGIC:
        return OWN_MAGIC[data[:4]]
    if data[:4] in TIFF_MAGIC:
        return "cr2" if data[8:10] == b"CR" else _tiff_flavour(data)
    return None


def decode_raw(data: bytes, max_pixels: int) -> tuple[Image.Image, str] | None:
    """Decode a RAW file, or return None if it is not one (e.g. an ordinary TIFF)."""
    fmt = raw_format(data)
    if fmt is None or rawpy is None:
        return None
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError:
        return None
    except (rawpy.LibRawError, OSError, ValueError) as error:
        raise Unprocessable("camera RAW file is corrupt", detail=str(error)) from None
    with raw:
        _check_pixels(raw.sizes, max_pixels)
        try:
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
        except (rawpy.LibRawError, OSError, ValueError) as error:
            raise Unprocessable(
                "camera RAW file is corrupt or truncated", detail=str(error)
            ) from None
    return Image.fromarray(rgb, "RGB"), fmt


def raw_exif(data: bytes) -> Image.Exif:
    """IFD0 and its EXIF/GPS sub-IFDs of a TIFF-based RAW file (empty for the others)."""
    exif = Image.Exif()
    if data[:4] in TIFF_MAGIC:
        exif.load(data)
    return exif


def _tiff_flavour(data: bytes) -> str:
    try:
        ifd0 = raw_exif(data)
    except (OSError, ValueError, SyntaxError, KeyError):
        return "raw"
    if DNG_VERSION_TAG in ifd0:
        return "dng"
    make = str(ifd0.get(0x010F, "")).strip("\x00 ").upper()
    return next((fmt for vendor, fmt in VENDOR_BY_MAKE.items() if make.startswith(vendor)), "raw")


def _check_pixels(sizes: object, max_pixels: int) -> None:
    width, height = getattr(sizes, "raw_width", 0), getattr(sizes, "raw_height", 0)
    if width * height > max_pixels:
        raise Unprocessable(
            f"camera RAW has {width}x{height} pixels, more than the limit of {max_pixels}"
        )
