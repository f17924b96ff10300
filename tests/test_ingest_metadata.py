"""EXIF at ingest: date taken and camera into the index, GPS only when configured, and
never any of it in a delivered variant."""

from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from indexer.catalog import get_image
from indexer.db import open_database
from indexer.ingest import Upload, ingest
from indexer.layout import DataLayout
from indexer.metadata import Metadata, camera, read_metadata, taken_at
from tests import ingest_samples as samples
from tests.conftest import ServerFactory, load_test_settings, make_settings, photo


def exif_with(base: dict[int, object], exif_ifd: dict[int, object] | None = None) -> Image.Exif:
    exif = Image.Exif()
    for tag, value in base.items():
        exif[tag] = value
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for tag, value in (exif_ifd or {}).items():
        sub[tag] = value
    return exif


def roundtrip(exif: Image.Exif) -> Image.Exif:
    """Through real JPEG bytes, as an upload would bring it."""
    data = samples.encoded(Image.new("RGB", (8, 8)), "JPEG", exif=exif)
    return Image.open(io.BytesIO(data)).getexif()


MAKE, MODEL = ExifTags.Base.Make, ExifTags.Base.Model
ORIGINAL, OFFSET = ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal
DATETIME = ExifTags.Base.DateTime


@pytest.mark.parametrize(
    ("base", "sub", "expected"),
    [
        ({}, {ORIGINAL: "2021:12:31 23:59:58"}, "2021-12-31T23:59:58"),
        ({}, {ORIGINAL: "2021:12:31 23:59:58", OFFSET: "-05:00"}, "2021-12-31T23:59:58-05:00"),
        ({}, {ORIGINAL: "2021:12:31 23:59:58", OFFSET: "garbage"}, "2021-12-31T23:59:58"),
        ({DATETIME: "2020:01:02 03:04:05"}, {}, "2020-01-02T03:04:05"),
        ({DATETIME: "2020:01:02 03:04:05"}, {ORIGINAL: "2019:01:01 00:00:00"},
         "2019-01-01T00:00:00"),
        ({}, {ORIGINAL: "0000:00:00 00:00:00"}, None),
        ({}, {ORIGINAL: "    :  :     :  :  "}, None),
        ({}, {}, None),
    ],
)
def test_date_taken(base: dict[int, object], sub: dict[int, object], expected: str | None) -> None:
    assert taken_at(roundtrip(exif_with(base, sub))) == expected


@pytest.mark.parametrize(
    ("make", "model", "expected"),
    [
        ("Canon", "Canon EOS 5D", "Canon EOS 5D"),
        ("NIKON CORPORATION", "NIKON D850", "NIKON D850"),
        ("Apple", "iPhone 15 Pro", "Apple iPhone 15 Pro"),
        ("FUJIFILM", "X-T4", "FUJIFILM X-T4"),
        ("", "X100V", "X100V"),
        ("Sony\x00\x00", "", "Sony"),
        ("", "", None),
    ],
)
def test_camera_name(make: str, model: str, expected: str | None) -> None:
    base = {tag: value for tag, value in ((MAKE, make), (MODEL, model)) if value}
    assert camera(roundtrip(exif_with(base))) == expected


def test_gps_is_read_only_when_asked() -> None:
    exif = Image.open(io.BytesIO(samples.gps_jpeg())).getexif()
    assert read_metadata(exif, keep_gps=True).gps == (52.3701389, -4.8916667)
    assert read_metadata(exif, keep_gps=False).gps is None


def test_broken_gps_is_ignored() -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (95.0, 0.0, 0.0)  # beyond the pole
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 0.0, 0.0)
    assert read_metadata(roundtrip(exif), keep_gps=True) == Metadata()


def test_corpus_photo_exif_lands_in_the_index(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        record = ingest(connection, layout, settings, Upload(photo("Storm.jpg").read_bytes()))
        stored = get_image(connection, record.id)
    assert stored is not None
    assert (stored.taken_at, stored.camera) == ("2008-04-20T19:12:06", "Canon EOS 400D DIGITAL")


@pytest.mark.parametrize("keep_gps", [False, True])
def test_gps_in_the_index_follows_the_setting(tmp_path: Path, keep_gps: bool) -> None:
    settings = make_settings(tmp_path / "data", ingest={"keep_gps": keep_gps})
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        record = ingest(connection, layout, settings, Upload(samples.gps_jpeg()))
        row = connection.execute(
            "SELECT gps_lat, gps_lon, camera, taken_at FROM images WHERE id = ?", (record.id,)
        ).fetchone()
    expected = (52.3701389, -4.8916667) if keep_gps else (None, None)
    assert (row["gps_lat"], row["gps_lon"]) == expected
    assert (row["camera"], row["taken_at"]) == ("Apple iPhone 15 Pro", "2024-05-06T07:08:09+02:00")


def test_variants_of_a_gps_tagged_upload_carry_no_exif(serve: ServerFactory) -> None:
    server = serve(nginx=False, config={"ingest": {"keep_gps": True}})
    settings = load_test_settings(server)
    original = samples.gps_jpeg()
    assert b"Exif" in original and Image.open(io.BytesIO(original)).getexif().get_ifd(
        ExifTags.IFD.GPSInfo
    )
    with closing(open_database(server.layout.database)) as connection:
        record = ingest(connection, server.layout, settings, Upload(original))
    assert record.gps_lat is not None  # kept in the index ...
    for url in (
        f"/img/_/-/{record.id}.jpg",
        f"/img/_/w_100/{record.id}.jpg",
        f"/img/_/w_100/{record.id}.webp",
        f"/img/_/w_100/{record.id}.png",
        f"/img/_/w_100/{record.id}.avif",
        f"/img/thumb/{record.id}.jpg",
    ):
        response = server.get(url)
        assert response.status_code == 200, (url, response.text)
        body = response.content
        assert b"Exif" not in body and b"iPhone" not in body, url  # ... never in a variant
        with Image.open(io.BytesIO(body)) as variant:
            assert not variant.getexif(), url
            assert "exif" not in variant.info and "xmp" not in variant.info, url
