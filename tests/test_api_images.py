"""``/api/images`` and ``/api/sign`` over HTTP against a real ``pictor serve`` (Hypercorn,
two workers, real SQLite file, real photos)."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from PIL import Image

from tests.api_support import Api, decode, first_run_key, jpeg_bytes
from tests.conftest import Server, start_server

SIGNING_KEY = "api-test-signing-key"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = start_server(tmp_path_factory.mktemp("api"), nginx=False)
    yield Api(server, first_run_key(server))
    server.stop()


@pytest.fixture(scope="module")
def signed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    config = {"security": {"signing_keys": [SIGNING_KEY]}}
    server = start_server(tmp_path_factory.mktemp("signed"), nginx=False, config=config)
    yield Api(server, first_run_key(server))
    server.stop()


def rows(server: Server, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(server.layout.database)) as connection:
        return [tuple(row) for row in connection.execute(sql, params).fetchall()]


def png_bytes(seed: int, size: tuple[int, int] = (200, 150)) -> bytes:
    buffer = io.BytesIO()
    decode(jpeg_bytes(seed, size)).save(buffer, "PNG")
    return buffer.getvalue()


def test_multipart_upload_answers_201_with_metadata_location_and_urls(api: Api) -> None:
    data = jpeg_bytes(1, (640, 480))
    response = api.upload(data, "Lady Bird.jpg", title="Lady bird", alt="A red beetle",
                          description="On a leaf", tags="Red, Insect ,red", focal="0.25,0.75")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == hashlib.sha256(data).hexdigest()[:20]
    assert response.headers["location"] == f"/api/images/{body['id']}"
    assert (body["width"], body["height"], body["format"], body["bytes"]) == (
        640, 480, "jpeg", len(data))
    assert (body["title"], body["alt"], body["description"], body["filename"]) == (
        "Lady bird", "A red beetle", "On a leaf", "Lady Bird.jpg")
    assert body["tags"] == [{"tag": "insect", "source": "human", "score": None},
                            {"tag": "red", "source": "human", "score": None}]
    assert body["focal"] == {"x": 0.25, "y": 0.75}
    assert len(body["blurhash"]) >= 6 and body["near_duplicates"] == []
    assert body["created_at"].endswith("Z")
    thumb = api.server.get(body["urls"]["presets"]["thumb"], headers={"Accept": "image/jpeg"})
    assert thumb.status_code == 200 and decode(thumb.content).size == (200, 200)
    full = api.server.get(body["urls"]["original"], headers={"Accept": "image/jpeg"})
    assert full.status_code == 200
    rendered, uploaded = decode(full.content), decode(data)
    assert rendered.size == (640, 480)
    # Same picture: mean colour within a few levels after re-encoding.
    for got, want in zip(rendered.resize((1, 1)).getpixel((0, 0)),  # type: ignore[arg-type]
                         uploaded.resize((1, 1)).getpixel((0, 0)), strict=True):  # type: ignore[arg-type]
        assert abs(got - want) <= 4


def test_raw_body_upload_is_detected_by_content(api: Api) -> None:
    data = png_bytes(2)
    with api.client() as client:
        response = client.post("/api/images", content=data,
                               headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["format"], body["width"], body["height"]) == ("png", 200, 150)
        assert body["filename"] == "" and body["tags"] == [] and body["title"] == ""
        # Fields travel in a multipart body, never in the query string.
        refused = client.post("/api/images?title=x", content=png_bytes(3))
        assert refused.status_code == 400
        assert "unknown query parameter 'title'" in refused.json()["error"]


def test_get_shows_the_stored_image_and_404s_unknown_ids(api: Api) -> None:
    created = api.upload(jpeg_bytes(3), title="Shown").json()
    with api.client() as client:
        shown = client.get(f"/api/images/{created['id']}")
        assert shown.status_code == 200
        assert shown.json() == created
        unknown = client.get("/api/images/0123456789abcdef0123")
        assert unknown.status_code == 404 and "unknown image id" in unknown.json()["error"]
        assert client.get("/api/images/not-an-id").status_code == 404


def test_list_pages_with_a_cursor_and_filters(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = start_server(tmp_path_factory.mktemp("list"), nginx=False)
    try:
        api = Api(server, first_run_key(server))
        ids = []
        for seed in range(5):
            response = api.upload(jpeg_bytes(10 + seed), title=f"Photo {seed} of 100%",
                                  tags="even" if seed % 2 == 0 else "odd")
            ids.append(response.json()["id"])
        with api.client() as client:
            png = client.post("/api/images", data={"tags": "odd,pixel_art"},
                              files={"file": ("p.png", png_bytes(20))}).json()
            ids.append(png["id"])
            pages, cursor = [], None
            while True:
                params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/images", params=params).json()
                pages.append([image["id"] for image in page["images"]])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert [len(page) for page in pages] == [2, 2, 2]
            assert [i for page in pages for i in page] == ids[::-1]  # newest first

            def listed(**params: str) -> list[str]:
                response = client.get("/api/images", params=params)
                assert response.status_code == 200, response.text
                return [image["id"] for image in response.json()["images"]]

            assert listed(tag="even") == [ids[4], ids[2], ids[0]]
            assert listed(tag="ODD ") == [ids[5], ids[3], ids[1]]
            assert listed(format="png") == [ids[5]]
            assert listed(format="jpg") == ids[4::-1]
            assert listed(q="photo 3") == [ids[3]]
            assert listed(q="100%") == ids[4::-1]  # % is literal, not a wildcard
            assert listed(q="pixel_") == [ids[5]]  # matches tags too; _ is literal
            assert listed(q="no such thing") == []
            first = client.get("/api/images", params={"limit": "1"}).json()
            assert set(first["images"][0]) >= {"id", "tags", "urls", "width", "blurhash"}
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "invalid limit"),
        ({"limit": "101"}, "invalid limit"),
        ({"limit": "ten"}, "invalid limit"),
        ({"cursor": "@@@"}, "invalid cursor"),
        ({"cursor": "bm9wZQ"}, "invalid cursor"),
        ({"format": "../etc"}, "invalid format"),
        ({"sort": "name"}, "unknown query parameter 'sort'"),
    ],
)
def test_list_rejects_bad_parameters(api: Api, params: dict[str, str], message: str) -> None:
    with api.client() as client:
        response = client.get("/api/images", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_patch_edits_fields_and_makes_the_tags_human(api: Api) -> None:
    image_id = api.upload(jpeg_bytes(4), tags="keep").json()["id"]
    with closing(sqlite3.connect(api.server.layout.database)) as connection, connection:
        connection.executemany(
            "INSERT INTO tags (image_id, tag, source, score) VALUES (?, ?, 'ai', ?)",
            [(image_id, "beach", 0.31), (image_id, "dog", 0.27)],
        )
    with api.client() as client:
        before = client.get(f"/api/images/{image_id}").json()
        assert {"tag": "beach", "source": "ai", "score": 0.31} in before["tags"]
        response = client.patch(f"/api/images/{image_id}", json={
            "title": "Beach", "alt": "Sand and sea", "description": "Summer",
            "tags": ["Beach", "sunny day", "beach"], "focal": {"x": 0.1, "y": 0.9}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["title"], body["alt"], body["description"]) == (
            "Beach", "Sand and sea", "Summer")
        assert body["tags"] == [{"tag": "beach", "source": "human", "score": None},
                                {"tag": "sunny day", "source": "human", "score": None}]
        assert body["focal"] == {"x": 0.1, "y": 0.9}
        assert client.get(f"/api/images/{image_id}").json() == body
        partial = client.patch(f"/api/images/{image_id}", json={"focal": None}).json()
        assert partial["focal"] is None and partial["title"] == "Beach"
        assert len(partial["tags"]) == 2
        cleared = client.patch(f"/api/images/{image_id}", json={"tags": [], "title": ""}).json()
        assert cleared["tags"] == [] and cleared["title"] == "" and cleared["alt"]
    assert rows(api.server, "SELECT count(*) FROM tags WHERE image_id = ?", image_id) == [(0,)]


def test_a_patched_focal_point_steers_the_focal_crop(api: Api) -> None:
    # Left half black, right half white: a square focal crop shows whichever side the
    # focal point is on.
    picture = Image.new("RGB", (400, 100), "black")
    picture.paste("white", (200, 0, 400, 100))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    image_id = api.upload(buffer.getvalue(), "halves.png").json()["id"]
    with api.client() as client:
        for x, expected in ((0.05, 0), (0.95, 255)):
            client.patch(f"/api/images/{image_id}", json={"focal": {"x": x, "y": 0.5}})
            # A different URL per focal point: a rendered variant is never re-rendered.
            options = f"fit_cover,g_focal,h_50,q_{90 + int(x * 10)},w_50"
            crop = api.server.get(f"/img/_/{options}/{image_id}.png")
            assert crop.status_code == 200, crop.text
            assert decode(crop.content).convert("L").getpixel((25, 25)) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": 5}, "invalid title"),
        ({"title": "x" * 501}, "invalid title"),
        ({"tags": "a,b"}, "invalid tags"),
        ({"tags": ["a,b"]}, "without commas"),
        ({"tags": [" "]}, "1..64 characters"),
        ({"tags": ["t"] * 51}, "invalid tags"),
        ({"focal": {"x": 1.5, "y": 0.5}}, "invalid focal.x"),
        ({"focal": {"x": 0.5}}, "invalid focal.y"),
        ({"focal": "0.5,0.5"}, "invalid focal"),
        ({"title": None}, "invalid title: must not be null"),
        ({"tags": None}, "invalid tags: must not be null"),
        ({"owner": "me"}, "unknown field 'owner'"),
        ([], "must be a JSON object"),
    ],
)
def test_patch_rejects_bad_bodies(api: Api, body: object, message: str) -> None:
    image_id = api.upload(jpeg_bytes(5)).json()["id"]  # 201, or 409 with the id: both fine
    with api.client() as client:
        response = client.patch(f"/api/images/{image_id}", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_patch_needs_json_and_an_existing_image(api: Api) -> None:
    image_id = api.upload(jpeg_bytes(6)).json()["id"]
    with api.client() as client:
        broken = client.patch(f"/api/images/{image_id}", content=b"{title:",
                              headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
        missing = client.patch("/api/images/0123456789abcdef0123", json={"title": "x"})
        assert missing.status_code == 404


def test_delete_removes_original_pyramid_variants_and_rows(api: Api) -> None:
    created = api.upload(jpeg_bytes(7, (1400, 900)), tags="doomed").json()
    image_id, layout = created["id"], api.server.layout
    for url in (created["urls"]["presets"]["thumb"] + ".webp",
                created["urls"]["original"] + ".jpg",
                f"{api.url}/img/_/w_100/{image_id}.png"):
        assert api.server.get(url).status_code == 200
    variants = layout.variant_dir(image_id)
    assert len([p for p in variants.rglob("*") if p.is_file()]) == 3
    assert layout.original(image_id).is_file()
    assert any(layout.pyramid_dir(image_id).iterdir())
    with api.client() as client:
        response = client.delete(f"/api/images/{image_id}")
        assert response.status_code == 204 and response.content == b""
        assert client.get(f"/api/images/{image_id}").status_code == 404
        again = client.delete(f"/api/images/{image_id}")
        assert again.status_code == 404
        assert client.delete("/api/images/0123456789abcdef0123").status_code == 404
    assert not layout.original(image_id).exists()
    assert not layout.pyramid_dir(image_id).exists()
    assert not variants.exists()
    assert rows(api.server, "SELECT count(*) FROM images WHERE id = ?", image_id) == [(0,)]
    assert rows(api.server, "SELECT count(*) FROM tags WHERE image_id = ?", image_id) == [(0,)]
    assert api.server.get(f"/img/_/w_100/{image_id}.png").status_code == 404


def test_sign_returns_a_canonical_signed_url_that_renders(signed_api: Api) -> None:
    created = signed_api.upload(jpeg_bytes(8, (400, 300))).json()
    image_id = created["id"]
    original = signed_api.server.get(created["urls"]["original"],
                                     headers={"Accept": "image/webp"})
    assert original.status_code == 200 and original.headers["content-type"] == "image/webp"
    assert "/img/_/" not in created["urls"]["original"]
    with signed_api.client() as client:
        response = client.post("/api/sign", json={
            "options": "w_0100,fit_cover,h_100", "id": image_id, "ext": "jpeg"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["signed"] is True
        assert body["path"].endswith(f"/fit_cover,h_100,w_100/{image_id}.jpg")
        assert body["url"] == signed_api.url + body["path"]
        negotiated = client.post("/api/sign", json={"options": "w_50", "id": image_id}).json()
        assert negotiated["path"].endswith(f"/w_50/{image_id}")
    fetched = signed_api.server.get(body["path"])
    assert fetched.status_code == 200 and decode(fetched.content).size == (100, 100)
    tampered = body["path"].replace("w_100", "w_101")
    assert signed_api.server.get(tampered).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"options": "w_abc", "id": "{id}"}, 400, "w_abc"),
        ({"options": "w_10", "id": "{id}", "ext": "bmp"}, 400, "unknown extension"),
        ({"options": "w_10", "id": "nope"}, 400, "invalid id"),
        ({"options": "w_10", "id": "0123456789abcdef0123"}, 404, "unknown image id"),
        ({"options": "w_10"}, 400, "invalid id"),
        ({"options": "w_10", "id": "{id}", "key": "x"}, 400, "unknown field 'key'"),
        ({"options": 10, "id": "{id}"}, 400, "invalid options"),
    ],
)
def test_sign_rejects_bad_requests(
    signed_api: Api, body: dict[str, object], status: int, message: str
) -> None:
    image_id = signed_api.upload(jpeg_bytes(9)).json()["id"]  # 201, or 409 with the id
    filled = {k: (image_id if v == "{id}" else v) for k, v in body.items()}
    with signed_api.client() as client:
        response = client.post("/api/sign", json=filled)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_sign_in_unsigned_mode_gives_the_unsigned_url(api: Api) -> None:
    image_id = api.upload(jpeg_bytes(12)).json()["id"]
    with api.client() as client:
        body = client.post("/api/sign", json={"options": "w_80", "id": image_id,
                                              "ext": "png"}).json()
    assert body == {"url": f"{api.url}/img/_/w_80/{image_id}.png",
                    "path": f"/img/_/w_80/{image_id}.png", "signed": False}
    assert decode(api.server.get(body["path"]).content).width == 80
