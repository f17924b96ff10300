"""The input formats over HTTP: HEIC, SVG and DNG uploaded to ``POST /api/images`` on a
real server, their metadata in the 201, their variants rendered; hostile SVGs refused or
defused with the same answers as in-process."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests import ingest_samples as samples
from tests.api_support import Api, first_run_key
from tests.conftest import start_server

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 1">'
    b'<rect width="1" height="1" fill="#dc1414"/>'
    b'<rect x="1" width="1" height="1" fill="#1414dc"/></svg>'
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    config = {"ingest": {"svg_raster_edge": 1000}}
    server = start_server(tmp_path_factory.mktemp("formats"), nginx=False, config=config)
    yield Api(server, first_run_key(server))
    server.stop()


def red_left_blue_right(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as variant:
        rgb = variant.convert("RGB")
    left = rgb.getpixel((rgb.width // 4, rgb.height // 2))
    right = rgb.getpixel((3 * rgb.width // 4, rgb.height // 2))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    return left[0] > left[2] + 60 and right[2] > right[0] + 60


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("IMG_0001.HEIC", samples.heic, {"format": "heif", "width": 400, "height": 200}),
        ("logo.svg", lambda: SVG, {"format": "svg", "width": 1000, "height": 500}),
        ("DSC_0001.DNG", samples.dng, {"format": "dng", "width": 384, "height": 256}),
    ],
)
def test_formats_upload_and_render(
    api: Api, name: str, make: Callable[[], bytes], expected: dict[str, object]
) -> None:
    response = api.upload(make(), name)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {key: body[key] for key in expected} == expected
    for ext in ("png", "webp", "jpg"):
        variant = api.server.get(f"/img/_/w_200/{body['id']}.{ext}")
        assert variant.status_code == 200, variant.text
        assert red_left_blue_right(variant.content), ext


def test_an_svg_with_an_external_entity_is_422_over_http(api: Api) -> None:
    response = api.upload(samples.SVG_XXE, "evil.svg")
    assert response.status_code == 422
    assert "file:///etc/passwd" in response.json()["error"]


def test_a_hostile_svg_is_stored_defused(api: Api, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (400, 200), (0, 255, 0)).save(secret)
    response = api.upload(samples.svg_hostile(secret), "hostile.svg")
    assert response.status_code == 201, response.text
    variant = api.server.get(f"/img/_/w_400/{response.json()['id']}.png")
    assert variant.status_code == 200
    assert red_left_blue_right(variant.content)
    with Image.open(io.BytesIO(variant.content)) as picture:
        colours = picture.convert("RGB").getcolors(1 << 16) or []
    assert not [rgb for _, rgb in colours if rgb[1] > 200 and rgb[0] < 60 and rgb[2] < 60]


def test_the_use_bomb_is_422_over_http(api: Api) -> None:
    response = api.upload(samples.svg_use_bomb(), "bomb.svg")
    assert response.status_code == 422
    assert "elements" in response.json()["error"]
