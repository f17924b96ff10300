"""Bad uploads over HTTP against a real server: each gets a clear 4xx, never a 5xx, and
the server keeps working.  The inputs are made here: a text file named .jpg, a
truncated JPEG, a 30000x30000 PNG of ~100 KB, a zero-byte file, polyglots, oversized
bodies (with and without Content-Length) and exact duplicates."""

from __future__ import annotations

import io
import sqlite3
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests.api_support import Api, decode, first_run_key, jpeg_bytes
from tests.conftest import start_server

MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    config = {"limits": {"max_upload_bytes": MAX_UPLOAD}}
    server = start_server(tmp_path_factory.mktemp("inputs"), nginx=False, config=config)
    yield Api(server, first_run_key(server))
    server.stop()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def huge_png(side: int = 30_000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side white pixels.  The 112 MB of pixel
    rows deflate ~1000:1, and they are compressed row by row, never held whole."""
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def count_rows(api: Api, image_id: str) -> int:
    with closing(sqlite3.connect(api.server.layout.database)) as connection:
        return int(connection.execute("SELECT count(*) FROM images WHERE id = ?",
                                      (image_id,)).fetchone()[0])


def assert_refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert message in body["error"], body["error"]


def test_a_text_file_named_jpg_is_415(api: Api) -> None:
    response = api.upload(b"Dear diary, today I uploaded a text file.\n" * 20, "photo.jpg")
    assert_refused(response, 415, "not an image")


def test_a_zero_byte_file_is_415(api: Api) -> None:
    assert_refused(api.upload(b"", "empty.jpg"), 415, "empty (zero bytes)")
    with api.client() as client:
        raw = client.post("/api/images", content=b"", headers={"Content-Type": "image/jpeg"})
    assert_refused(raw, 415, "empty (zero bytes)")


def test_a_truncated_jpeg_is_422(api: Api) -> None:
    whole = jpeg_bytes(40, (800, 600))
    assert_refused(api.upload(whole[: len(whole) // 2], "cut.jpg"), 422, "corrupt or truncated")


def test_a_30000_pixel_square_png_is_422_from_its_header(api: Api) -> None:
    bomb = huge_png()
    assert len(bomb) < MAX_UPLOAD  # small on the wire: only the header tells
    # The message quotes the header's size: refused before any pixel was decoded.
    assert_refused(api.upload(bomb, "bomb.png"), 422, "30000x30000 pixels")
    assert api.server.get("/healthz").status_code == 200


@pytest.mark.parametrize("trailer", ["zip", "script"])
def test_a_jpeg_with_an_archive_or_script_appended_is_a_415_polyglot(
    api: Api, trailer: str
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.html", "<script>alert('polyglot')</script>")
    payload = {"zip": archive.getvalue(), "script": b"<script>alert(1)</script>"}[trailer]
    assert_refused(api.upload(jpeg_bytes(41) + payload, "poly.jpg"), 415, "polyglot")


def test_delivered_files_are_always_re_encoded(api: Api) -> None:
    """Even bytes the polyglot check cannot see (a comment segment) never reach a browser
    verbatim: every variant is decoded and encoded again, metadata dropped."""
    picture = decode(jpeg_bytes(45))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", comment=b"hidden-marker-1234")
    data = buffer.getvalue()
    assert b"hidden-marker-1234" in data
    body = api.upload(data, "commented.jpg").json()
    assert api.server.layout.original(body["id"]).read_bytes() == data  # kept as uploaded
    delivered = api.server.get(body["urls"]["original"] + ".jpg")
    assert delivered.status_code == 200
    assert b"hidden-marker-1234" not in delivered.content
    assert decode(delivered.content).size == picture.size


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><script>alert(1)</script></html>" + b"\xff\xd8\xff\xe0" + b"\x00" * 100,
         "polyglot"),
        (b"%PDF-1.4\n" + b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 100, "not an image"),
        (b"PK\x03\x04" + b"\x00" * 100, "not an image"),
    ],
    ids=["html-then-jpeg", "pdf-then-jpeg", "zip"],
)
def test_files_that_do_not_start_as_an_image_are_415(
    api: Api, data: bytes, message: str
) -> None:
    assert_refused(api.upload(data, "innocent.jpg"), 415, message)


def test_a_gif_header_wrapped_around_a_script_is_refused(api: Api) -> None:
    gifar = b"GIF89a/*\x00\x00\x00\x00*/=alert(document.domain)//;" + b"\x00" * 64
    response = api.upload(gifar, "avatar.gif")
    assert response.status_code in (415, 422), response.text
    assert response.status_code < 500


def test_an_exact_duplicate_is_409_with_the_existing_id(api: Api) -> None:
    data = jpeg_bytes(42)
    first = api.upload(data, "a.jpg")
    assert first.status_code == 201
    second = api.upload(data, "b.jpg", title="again")
    assert_refused(second, 409, "already exists")
    assert second.json()["id"] == first.json()["id"]
    assert count_rows(api, first.json()["id"]) == 1


def test_an_oversized_multipart_upload_is_413(api: Api) -> None:
    assert_refused(api.upload(b"\xff\xd8" + b"\x00" * (MAX_UPLOAD + 1)), 413,
                   f"larger than {MAX_UPLOAD} bytes")


def test_an_oversized_raw_body_is_413_with_or_without_content_length(api: Api) -> None:
    too_big = b"\xff\xd8" + b"\x00" * (MAX_UPLOAD + 10)
    with api.client() as client:
        declared = client.post("/api/images", content=too_big)
        assert_refused(declared, 413, f"larger than {MAX_UPLOAD} bytes")

        def chunks() -> Iterator[bytes]:  # chunked transfer: the origin must count
            for start in range(0, len(too_big), 16_384):
                yield too_big[start : start + 16_384]

        streamed = client.post("/api/images", content=chunks())
        assert_refused(streamed, 413, f"larger than {MAX_UPLOAD} bytes")
    # Just under the limit is fine, and the server is still healthy.
    assert api.upload(jpeg_bytes(43)).status_code == 201


@pytest.mark.parametrize(
    ("files", "data", "message"),
    [
        (None, {"title": "no file"}, "needs a file in the field 'file'"),
        ({"image": ("a.jpg", b"x")}, {}, "unknown form field 'image'"),
        ({"file": ("a.jpg", b"x")}, {"owner": "me"}, "unknown form field 'owner'"),
        ({"file": ("a.jpg", b"x")}, {"focal": "2,2"}, "invalid focal"),
        ({"file": ("a.jpg", b"x")}, {"focal": "left"}, "invalid focal"),
        ({"file": ("a.jpg", b"x")}, {"tags": "x" * 65}, "1..64 characters"),
        ({"file": ("a.jpg", b"x")}, {"tags": ",".join(["t"] * 51)}, "invalid tags"),
        ({"file": ("a.jpg", b"x")}, {"title": "x" * 501}, "invalid title"),
    ],
)
def test_bad_multipart_fields_are_400(
    api: Api, files: dict[str, tuple[str, bytes]] | None, data: dict[str, str], message: str
) -> None:
    with api.client() as client:
        if files is None:  # a multipart body with text fields only
            response = client.post("/api/images", files={"title": (None, "no file")})
        else:
            response = client.post("/api/images", files=files, data=data)
    assert_refused(response, 400, message)


def test_a_malformed_multipart_body_is_400(api: Api) -> None:
    with api.client() as client:
        response = client.post(
            "/api/images", content=b"--nope\r\nContent-Disposition: garbage\r\n\r\nx",
            headers={"Content-Type": "multipart/form-data; boundary=other"})
    assert response.status_code == 400, response.text


def test_uploads_through_nginx(tmp_path_factory: pytest.TempPathFactory) -> None:
    config = {"limits": {"max_upload_bytes": MAX_UPLOAD}}
    server = start_server(tmp_path_factory.mktemp("nginx"), nginx=True, config=config)
    try:
        api = Api(server, first_run_key(server))
        created = api.upload(jpeg_bytes(44), title="via nginx")
        assert created.status_code == 201, created.text
        thumb = server.get(created.json()["urls"]["presets"]["thumb"] + ".jpg")
        assert thumb.status_code == 200 and decode(thumb.content).size == (200, 200)
        huge = b"\xff\xd8" + b"\x00" * (MAX_UPLOAD + 200_000)
        with api.client() as client:
            assert client.post("/api/images", content=huge).status_code == 413
    finally:
        server.stop()
