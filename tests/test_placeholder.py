"""Placeholder on miss: an expensive miss answers at once (no-store) from the nearest
pyramid level or a sibling variant, and the real variant is rendered in the
background so that a later request gets it."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from indexer.catalog import get_image
from indexer.db import open_database
from indexer.layout import DataLayout
from origin.delivery import render_job
from origin.options import parse_options
from origin.placeholder import expected_ms, render_preview
from tests.conftest import Server, ServerFactory, ingest_paths, make_settings, photo

BIG = "seeding_by_Clements_Engelhardt.jpg"
IMMUTABLE = "public, max-age=31536000, immutable"


def eventually(fetch: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool],
               attempts: int = 300) -> httpx.Response:
    """Poll a bounded number of times (the background render has no completion signal)."""
    for _ in range(attempts):
        response = fetch()
        if done(response):
            return response
        time.sleep(0.1)
    raise AssertionError(f"still not done after {attempts} attempts: {response.headers}")


def placeholder_server(serve: ServerFactory, **limits: int) -> tuple[Server, dict[str, str]]:
    config = {"output": {"placeholder_budget_ms": 1}}
    if limits:
        config["limits"] = limits
    server = serve(nginx=False, config=config)
    return server, ingest_paths(make_settings(server.layout.root), [photo(BIG)])


def test_estimate_grows_with_pixels_format_and_options(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    ids = ingest_paths(settings, [photo(BIG)])
    layout = DataLayout.at(settings.data_dir)
    with closing(open_database(layout.database)) as db:
        record = get_image(db, ids[BIG])
    assert record is not None

    def estimate(options: str, fmt: str) -> float:
        return expected_ms(render_job(settings, layout, record, parse_options(options), fmt))

    assert estimate("w_200", "jpg") < estimate("w_2000", "jpg") < estimate("w_2000", "avif")
    assert estimate("w_2000", "avif") < estimate("maxb_100000,w_2000", "avif")
    assert estimate("fit_cover,h_200,w_200", "jpg") < estimate(
        "fit_cover,g_face,h_200,w_200", "jpg")
    # a preview has the variant's geometry
    data, fmt = render_preview(render_job(settings, layout, record,
                                          parse_options("fit_cover,h_300,w_500"), "avif"))
    assert fmt == "jpg" and Image.open(io.BytesIO(data)).size == (500, 300)


def test_slow_miss_answers_with_a_preview_then_the_real_variant(serve: ServerFactory) -> None:
    server, ids = placeholder_server(serve)
    url = f"/img/_/w_1500/{ids[BIG]}.avif"
    first = server.get(url)
    assert first.status_code == 200
    assert first.headers["x-placeholder"] == "pyramid"
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"] == "image/jpeg"
    preview = Image.open(io.BytesIO(first.content))
    real = eventually(lambda: server.get(url), lambda r: "x-placeholder" not in r.headers)
    assert real.headers["content-type"] == "image/avif"
    assert real.headers["cache-control"] == IMMUTABLE
    assert real.headers["x-cache"] == "HIT"  # rendered in the background, now on disk
    assert Image.open(io.BytesIO(real.content)).size == preview.size


def test_a_ready_sibling_variant_is_the_placeholder(serve: ServerFactory) -> None:
    server, ids = placeholder_server(serve)
    jpg = f"/img/_/w_1500/{ids[BIG]}.jpg"
    eventually(lambda: server.get(jpg), lambda r: "x-placeholder" not in r.headers)
    on_disk = server.get(jpg).content
    webp = server.get(f"/img/_/w_1500/{ids[BIG]}.webp", headers={"accept": "image/webp"})
    assert webp.headers["x-placeholder"] == "variant"
    assert webp.headers["content-type"] == "image/jpeg" and webp.content == on_disk
    assert webp.headers["cache-control"] == "no-store"


def test_a_failing_background_render_is_reported_next_time(
    serve: ServerFactory, tmp_path: Path
) -> None:
    server, _ids = placeholder_server(serve, max_output_pixels=1_000_000)
    frames = []
    for index in range(3):
        frame = Image.new("RGB", (1400, 900), (40 * index, 90, 160))
        ImageDraw.Draw(frame).rectangle([index * 300, 100, index * 300 + 200, 300], fill="white")
        frames.append(frame)
    frames[0].save(tmp_path / "big.gif", save_all=True, append_images=frames[1:], duration=100)
    ids = ingest_paths(make_settings(server.layout.root), [tmp_path / "big.gif"])
    url = f"/img/_/w_1000/{ids['big.gif']}.webp"  # 3 frames x 1000x643 > 1 000 000 pixels
    first = server.get(url)
    assert first.status_code == 200 and first.headers["x-placeholder"] == "pyramid"
    failed = eventually(lambda: server.get(url), lambda r: r.status_code != 200)
    assert failed.status_code == 400 and "3 frames" in failed.json()["error"]


@pytest.mark.parametrize("budget", [0, 60_000])
def test_no_placeholder_when_off_or_within_budget(serve: ServerFactory, budget: int) -> None:
    server = serve(nginx=False, config={"output": {"placeholder_budget_ms": budget}})
    ids = ingest_paths(make_settings(server.layout.root), [photo(BIG)])
    response = server.get(f"/img/_/w_1500/{ids[BIG]}.avif")
    assert "x-placeholder" not in response.headers
    assert response.headers["content-type"] == "image/avif"
    assert response.headers["cache-control"] == IMMUTABLE
