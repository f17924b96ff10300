"""Ingest through the library: validation by content, what is stored, and in what order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import blurhash
import numpy
import pytest
from PIL import Image, ImageFile

from indexer import ingest as ingest_module
from indexer.catalog import ImageRecord, get_image
from indexer.config import Settings
from indexer.db import open_database
from indexer.errors import Conflict, PayloadTooLarge, PictorError, Unprocessable, UnsupportedMedia
from indexer.ingest import Upload, blurhash_of, image_id_for, ingest
from indexer.layout import DataLayout
from indexer.polyglot import is_zip_archive
from tests import ingest_samples as samples
from tests.conftest import make_settings, photo


@pytest.fixture
def store(settings: Settings) -> Iterator[tuple[sqlite3.Connection, DataLayout]]:
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        yield connection, layout


def rejected(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings, data: bytes
) -> PictorError:
    connection, layout = store
    with pytest.raises(PictorError) as caught:
        ingest(connection, layout, settings, Upload(data, "upload.jpg"))
    return caught.value


def stored_as(connection: sqlite3.Connection, record: ImageRecord) -> bool:
    """The row equals the returned record (which has no created_at yet)."""
    stored = get_image(connection, record.id)
    return stored is not None and replace(stored, created_at="") == record


def dune() -> bytes:
    return photo("Dune.jpg").read_bytes()


BAD_INPUTS = [
    ("zero-byte file", b"", UnsupportedMedia, "empty file"),
    ("text file named .jpg", b"just some text\n" * 20, UnsupportedMedia, "not an image"),
    ("HTML page", b"<!doctype html><html><body>hi</body></html>", UnsupportedMedia, "markup"),
    ("TGA (no magic number)", samples.encoded(Image.new("RGB", (4, 4)), "TGA"),
     UnsupportedMedia, "not an image"),
    ("truncated JPEG", dune()[: len(dune()) // 2], Unprocessable, "truncated"),
    ("JPEG header only", dune()[:600], Unprocessable, "truncated"),
    ("30000x30000 PNG bomb", samples.png_bomb(), Unprocessable, "30000x30000"),
    ("JPEG + ZIP polyglot", dune() + samples.zip_archive(), UnsupportedMedia, "ZIP"),
    ("GIFAR", samples.gifar(), UnsupportedMedia, "ZIP"),
    ("JPEG + HTML polyglot", dune() + b"<html><script>alert(1)</script></html>",
     UnsupportedMedia, "markup"),
    ("JPEG + PHP polyglot", dune() + b"<?php system($_GET['c']); ?>", UnsupportedMedia,
     "markup"),
    ("SVG with an external entity", samples.SVG_XXE, Unprocessable, "file:///etc/passwd"),
    ("SVG with a remote DTD", samples.SVG_REMOTE_DTD, Unprocessable, "http://127.0.0.1:9/evil.dtd"),
    ("SVG <use> bomb", samples.svg_use_bomb(), Unprocessable, "elements"),
    ("malformed SVG", b"<svg xmlns='http://www.w3.org/2000/svg'><rect></svg>",
     Unprocessable, "well-formed"),
]


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_refused_with_its_reason_and_leaves_nothing_behind(
    store: tuple[sqlite3.Connection, DataLayout],
    settings: Settings,
    data: bytes,
    error: type[PictorError],
    message: str,
) -> None:
    problem = rejected(store, settings, data)
    assert type(problem) is error
    assert message.lower() in problem.public.lower()
    connection, layout = store
    assert connection.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    assert not any(layout.originals.rglob("*")), "a rejected upload left files behind"
    assert not any(layout.pyramid.rglob("*"))


def test_the_bomb_is_refused_from_its_header_without_decoding_a_pixel(
    store: tuple[sqlite3.Connection, DataLayout],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = samples.png_bomb()
    assert len(bomb) < 16_000  # "a few kilobytes"
    assert Image.open(__import__("io").BytesIO(bomb)).size == (30000, 30000)

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    problem = rejected(store, settings, bomb)
    assert problem.status == 422
    assert "more than the limit of 100000000" in problem.public


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", limits={"max_source_pixels": 1_000_000})
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        with pytest.raises(Unprocessable, match="1680x1050"):
            ingest(connection, layout, settings, Upload(dune()))
        small = samples.encoded(Image.new("RGB", (1000, 1000), "red"), "PNG")
        assert ingest(connection, layout, settings, Upload(small)).width == 1000


def test_upload_byte_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", limits={"max_upload_bytes": 1000})
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection, pytest.raises(PayloadTooLarge):
        ingest(connection, layout, settings, Upload(dune()))


def test_trailing_camera_data_is_accepted_because_originals_are_never_served(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    """Samsung/Google append non-image trailers after the JPEG's EOI; they are harmless
    since every delivery is re-encoded from pixels."""
    connection, layout = store
    data = dune() + b"\x00\x00SEFH" + bytes(range(256)) * 8 + b"SEFT"
    record = ingest(connection, layout, settings, Upload(data))
    assert (record.format, record.width, record.height) == ("jpeg", 1680, 1050)
    assert layout.original(record.id).read_bytes() == data


def test_zip_detection_needs_a_real_archive_not_a_chance_signature() -> None:
    assert is_zip_archive(samples.zip_archive())
    assert is_zip_archive(dune() + samples.zip_archive())
    assert not is_zip_archive(dune() + b"PK\x05\x06" + b"\x00" * 18)
    assert not is_zip_archive(dune())


def test_a_stored_image_has_its_original_pyramid_and_row(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    connection, layout = store
    data = photo("seeding_by_Clements_Engelhardt.jpg").read_bytes()
    record = ingest(connection, layout, settings, Upload(data, "dir/seeding.jpg", title="Seeds"))
    assert record.id == image_id_for(data)[0]
    assert stored_as(connection, record)
    assert (record.width, record.height, record.format) == (5312, 2988, "jpeg")
    assert (record.filename, record.title) == ("seeding.jpg", "Seeds")
    assert layout.original(record.id).read_bytes() == data
    assert record.pyramid == (2560, 1280, 640)
    with Image.open(photo("seeding_by_Clements_Engelhardt.jpg")) as source:
        reference = numpy.asarray(source.convert("RGB").resize((640, 360)), dtype=float)
    for edge in record.pyramid:
        with Image.open(layout.pyramid_dir(record.id) / f"{edge}.jpg") as level:
            assert max(level.size) == edge
            assert level.size[1] == round(2988 * edge / 5312)
            small = numpy.asarray(level.convert("RGB").resize((640, 360)), dtype=float)
        assert numpy.abs(small - reference).mean() < 6, f"level {edge} differs from the photo"


def test_transparent_images_keep_alpha_in_their_pyramid(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    connection, layout = store
    record = ingest(connection, layout, settings, Upload(photo("goldfish.png").read_bytes()))
    assert record.has_alpha is False  # goldfish.png is RGBA but fully opaque
    record = ingest(
        connection,
        layout,
        settings,
        Upload(photo("Arc-Colors-Transparent-Wallpaper.png").read_bytes()),
    )
    assert record.has_alpha is True
    with Image.open(layout.pyramid_dir(record.id) / "640.png") as level:
        assert level.mode == "RGBA"
        assert level.getchannel("A").getextrema()[0] < 255


def test_exact_duplicate_is_a_conflict_naming_the_existing_id(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    connection, layout = store
    first = ingest(connection, layout, settings, Upload(dune()))
    with pytest.raises(Conflict) as conflict:
        ingest(connection, layout, settings, Upload(dune(), "copy.jpg"))
    assert conflict.value.existing_id == first.id
    assert connection.execute("SELECT count(*) FROM images").fetchone()[0] == 1


def test_blurhash_matches_the_picture(settings: Settings) -> None:
    """Decode the placeholder and compare its colours with the photo's."""
    with Image.open(photo("sunset_by_Aitzol_Berasategi.jpg")) as source:
        picture = source.convert("RGB")
    code = blurhash_of(picture)
    decoded = numpy.asarray(blurhash.decode(code, 32, 21), dtype=float)[..., :3]
    expected = numpy.asarray(picture.resize((32, 21), Image.Resampling.BOX), dtype=float)
    assert numpy.abs(decoded.mean((0, 1)) - expected.mean((0, 1))).max() < 15  # overall colour
    cells = [(numpy.s_[r * 7 : r * 7 + 7], numpy.s_[c * 8 : c * 8 + 8]) for r in range(3)
             for c in range(4)]
    brightness = [(decoded[rows, cols].mean(), expected[rows, cols].mean()) for rows, cols in cells]
    assert numpy.corrcoef(numpy.array(brightness).T)[0, 1] > 0.9  # same light and dark areas
    tall = blurhash_of(picture.transpose(Image.Transpose.ROTATE_90))
    assert blurhash.components(code) == (4, 3)
    assert blurhash.components(tall) == (3, 4)


def test_blurhash_and_pyramid_can_be_switched_off(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", ingest={"blurhash": False}, output={"pyramid": []}
    )
    layout = DataLayout.at(settings.data_dir)
    layout.create()
    with closing(open_database(layout.database)) as connection:
        record = ingest(connection, layout, settings, Upload(dune()))
    assert (record.blurhash, record.pyramid) == ("", ())
    assert not layout.pyramid_dir(record.id).exists()


def test_profile_records_every_phase(
    store: tuple[sqlite3.Connection, DataLayout], settings: Settings
) -> None:
    connection, layout = store
    profile: dict[str, float] = {}
    ingest(connection, layout, settings, Upload(dune()), profile)
    assert set(profile) >= {"hash", "decode", "original", "pyramid", "fsync", "blurhash", "commit"}
    assert all(seconds >= 0 for seconds in profile.values())


def test_files_are_durable_before_the_row_is_committed(
    store: tuple[sqlite3.Connection, DataLayout],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At the moment of the insert, the original and every level exist in full."""
    connection, layout = store
    seen: dict[str, bool] = {}
    real_insert = ingest_module.insert_image

    def checking_insert(conn: sqlite3.Connection, record: ImageRecord) -> None:
        seen["original"] = layout.original(record.id).read_bytes() == dune()
        seen["levels"] = all(
            (layout.pyramid_dir(record.id) / f"{edge}.jpg").stat().st_size > 0
            for edge in record.pyramid
        )
        real_insert(conn, record)

    monkeypatch.setattr(ingest_module, "insert_image", checking_insert)
    ingest(connection, layout, settings, Upload(dune()))
    assert seen == {"original": True, "levels": True}


def test_a_crash_before_the_commit_leaves_no_row_and_a_retry_completes(
    store: tuple[sqlite3.Connection, DataLayout],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection, layout = store

    def crash(conn: sqlite3.Connection, record: ImageRecord) -> None:
        raise KeyboardInterrupt  # stands in for the process dying here

    real_insert = ingest_module.insert_image
    monkeypatch.setattr(ingest_module, "insert_image", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(connection, layout, settings, Upload(dune()))
    image_id = image_id_for(dune())[0]
    assert layout.original(image_id).is_file()
    assert get_image(connection, image_id) is None
    monkeypatch.setattr(ingest_module, "insert_image", real_insert)
    record = ingest(connection, layout, settings, Upload(dune()))
    assert stored_as(connection, record)
