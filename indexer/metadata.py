"""EXIF metadata kept in the index: date taken, camera, and (only if configured) GPS.

Only these few fields are read, and only into the index: variants are re-encoded from
pixels with all metadata stripped, so nothing here ever reaches a delivered file.
Broken or hostile EXIF never rejects an upload; the field is simply left empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image

EXIF_IFD = ExifTags.IFD.Exif
GPS_IFD = ExifTags.IFD.GPSInfo
CAMERA_MAX_CHARS = 100
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_DATE_TAGS = (
    (EXIF_IFD, ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
    (EXIF_IFD, ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized),
    (None, ExifTags.Base.DateTime, ExifTags.Base.OffsetTime),
)


@dataclass(frozen=True)
class Metadata:
    taken_at: str | None = None  # ISO 8601, with the UTC offset when the camera recorded one
    camera: str | None = None  # "Make Model", without the make repeated
    gps: tuple[float, float] | None = None  # (latitude, longitude) in decimal degrees


def read_metadata(exif: Image.Exif, *, keep_gps: bool) -> Metadata:
    """The index fields from an EXIF block (``Image.getexif()`` or ``Image.Exif().load``)."""
    try:
        return Metadata(
            taken_at=taken_at(exif),
            camera=camera(exif),
            gps=gps_position(exif.get_ifd(GPS_IFD)) if keep_gps else None,
        )
    except (ValueError, TypeError, KeyError, OSError, SyntaxError, ZeroDivisionError):
        return Metadata()


def taken_at(exif: Image.Exif) -> str | None:
    exif_ifd = exif.get_ifd(EXIF_IFD)
    for ifd, date_tag, offset_tag in _DATE_TAGS:
        tags = exif if ifd is None else exif_ifd
        stamp = _parse_date(tags.get(date_tag))
        if stamp is not None:
            offset = _text(tags.get(offset_tag))
            return stamp + offset if offset and _OFFSET.match(offset) else stamp
    return None


def camera(exif: Image.Exif) -> str | None:
    make = _text(exif.get(ExifTags.Base.Make))
    model = _text(exif.get(ExifTags.Base.Model))
    # Many vendors repeat the make in the model ("Canon" / "Canon EOS 5D").
    if make and model.lower().startswith(make.split()[0].lower()):
        make = ""
    name = " ".join(part for part in (make, model) if part)
    return name[:CAMERA_MAX_CHARS] or None


def gps_position(gps: dict[int, Any]) -> tuple[float, float] | None:
    latitude = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    longitude = _degrees(
        gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef)
    )
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return (round(latitude, 7), round(longitude, 7))


def _degrees(value: Any, ref: Any) -> float | None:
    """(degrees, minutes, seconds) rationals plus an N/S/E/W reference."""
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    degrees, minutes, seconds = (float(part) for part in value)
    total = degrees + minutes / 60 + seconds / 3600
    if total != total:  # NaN from a 0/0 rational
        return None
    return -total if _text(ref).upper() in ("S", "W") else total


def _parse_date(value: Any) -> str | None:
    text = _text(value)[:19]
    try:
        parsed = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:  # blank, "0000:00:00 00:00:00", or garbage
        return None
    return parsed.isoformat()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()
