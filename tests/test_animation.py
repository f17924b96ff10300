"""Animated GIF and WebP: every frame resized and kept, with durations and loop count;
other formats take the first frame; the frame limit and the memory bound hold."""

from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageSequence

from indexer.catalog import get_image
from indexer.config import Settings
from indexer.db import open_database
from indexer.errors import BadRequest
from indexer.layout import DataLayout
from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import render
from tests.conftest import ServerFactory, ingest_paths, make_settings

COLOURS = [(230, 30, 30), (30, 200, 30), (30, 30, 230), (230, 230, 30), (30, 230, 230),
           (230, 30, 230)]
GIF_DURATIONS = [100, 200, 300, 400, 500, 600]
WEBP_DURATIONS = [80, 120, 160, 200, 240]


def frames(count: int, size: tuple[int, int] = (120, 80)) -> list[Image.Image]:
    """Distinct frames: a flat colour with a white square that moves right."""
    made = []
    for index in range(count):
        frame = Image.new("RGB", size, COLOURS[index % len(COLOURS)])
        ImageDraw.Draw(frame).rectangle([index * 15, 20, index * 15 + 20, 40], fill="white")
        made.append(frame)
    return made


def write_gif(path: Path) -> Path:
    first, *rest = frames(6)
    first.save(path, "GIF", save_all=True, append_images=rest, duration=GIF_DURATIONS, loop=0)
    return path


def write_webp(path: Path) -> Path:
    first, *rest = frames(5)
    first.save(path, "WEBP", save_all=True, append_images=rest, duration=WEBP_DURATIONS,
               loop=3, lossless=True)
    return path


def write_transparent_gif(path: Path) -> Path:
    made = []
    for index in range(3):
        frame = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
        ImageDraw.Draw(frame).ellipse([index * 10, 10, index * 10 + 30, 40], fill=COLOURS[index])
        made.append(frame)
    made[0].save(path, "GIF", save_all=True, append_images=made[1:], duration=100, loop=0,
                 disposal=2)
    return path


class Animations:
    def __init__(self, settings: Settings, ids: dict[str, str]) -> None:
        self.settings, self.ids = settings, ids
        self.layout = DataLayout.at(settings.data_dir)

    def record_frames(self, name: str) -> int:
        with closing(open_database(self.layout.database)) as db:
            record = get_image(db, self.ids[name])
        assert record is not None
        return record.frames

    def render_bytes(self, name: str, options: str, fmt: str,
                     settings: Settings | None = None) -> bytes:
        with closing(open_database(self.layout.database)) as db:
            record = get_image(db, self.ids[name])
        assert record is not None
        job = render_job(settings or self.settings, self.layout, record, parse_options(options),
                         fmt)
        return render(job)

    def render(self, name: str, options: str, fmt: str, settings: Settings | None = None
               ) -> Image.Image:
        image = Image.open(io.BytesIO(self.render_bytes(name, options, fmt, settings)))
        image.load()
        return image


@pytest.fixture(scope="module")
def animations(tmp_path_factory: pytest.TempPathFactory) -> Animations:
    folder = tmp_path_factory.mktemp("animations")
    still = folder / "still.gif"
    frames(1)[0].save(still, "GIF")
    paths = [write_gif(folder / "moving.gif"), write_webp(folder / "moving.webp"),
             write_transparent_gif(folder / "alpha.gif"), still]
    settings = make_settings(tmp_path_factory.mktemp("data"))
    return Animations(settings, ingest_paths(settings, paths))


def all_frames(image: Image.Image) -> list[Image.Image]:
    return [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


def durations(image: Image.Image) -> list[int]:
    found = []
    for frame in ImageSequence.Iterator(image):
        frame.load()  # WebP sets a frame's duration when it is decoded
        found.append(frame.info["duration"])
    return found


def centre_colour(frame: Image.Image) -> tuple[int, ...]:
    rgb = frame.convert("RGB")
    return tuple(int(v) for v in rgb.getpixel((rgb.width - 3, rgb.height - 3)))  # type: ignore[union-attr]


def test_ingest_counts_frames(animations: Animations) -> None:
    assert animations.record_frames("moving.gif") == 6
    assert animations.record_frames("moving.webp") == 5
    assert animations.record_frames("still.gif") == 1


@pytest.mark.parametrize(
    ("name", "fmt", "count", "timing", "loop"),
    [
        ("moving.gif", "gif", 6, GIF_DURATIONS, 0),
        ("moving.gif", "webp", 6, GIF_DURATIONS, 0),
        ("moving.webp", "webp", 5, WEBP_DURATIONS, 3),
        ("moving.webp", "gif", 5, WEBP_DURATIONS, 3),
    ],
)
def test_animation_keeps_frames_durations_and_loop(
    animations: Animations, name: str, fmt: str, count: int, timing: list[int], loop: int
) -> None:
    image = animations.render(name, "w_60", fmt)
    assert image.format == fmt.upper().replace("JPG", "JPEG")
    assert getattr(image, "n_frames", 1) == count
    assert image.size == (60, 40)
    assert durations(image) == timing
    assert image.info.get("loop") == loop
    for index, frame in enumerate(all_frames(image)):
        assert centre_colour(frame) == pytest.approx(COLOURS[index], abs=12)


def test_still_formats_take_the_first_frame(animations: Animations) -> None:
    for fmt in ("jpg", "png", "avif"):
        image = animations.render("moving.gif", "w_60", fmt)
        assert getattr(image, "n_frames", 1) == 1 and image.size == (60, 40)
        assert centre_colour(image) == pytest.approx(COLOURS[0], abs=12)


def test_frame_limit_drops_the_rest(animations: Animations) -> None:
    limited = make_settings(animations.settings.data_dir, limits={"max_frames": 3})
    image = animations.render("moving.gif", "w_60", "gif", settings=limited)
    assert getattr(image, "n_frames", 1) == 3
    assert durations(image) == GIF_DURATIONS[:3]


def test_every_frame_gets_the_options(animations: Animations) -> None:
    options = "fit_cover,gray_1,h_40,q_100,w_40"
    image = animations.render("moving.gif", f"{options},txt_SGk,txtsize_12", "webp")  # "Hi"
    plain = animations.render("moving.gif", options, "webp")
    assert image.n_frames == 6 and image.size == (40, 40)  # type: ignore[attr-defined]
    for framed, bare in zip(all_frames(image), all_frames(plain), strict=True):
        rgb, without = np.asarray(framed, dtype=np.int16), np.asarray(bare, dtype=np.int16)
        assert np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 4  # gray on every frame
        # white text at the bottom of every frame; the white square never reaches there
        assert (rgb[26:] > 230).all(axis=2).sum() >= 5
        assert (without[26:] > 230).all(axis=2).sum() == 0


def test_transparency_survives_in_animated_gif(animations: Animations) -> None:
    image = animations.render("alpha.gif", "w_30", "gif")
    assert image.n_frames == 3  # type: ignore[attr-defined]
    for frame in ImageSequence.Iterator(image):
        rgba = frame.convert("RGBA")
        assert rgba.getpixel((0, 0))[3] == 0  # type: ignore[index]  # corner stays see-through


def test_animation_memory_is_bounded(animations: Animations) -> None:
    tight = make_settings(animations.settings.data_dir, limits={"max_output_pixels": 20_000})
    # 6 frames of 60x40 = 14 400 pixels: fine; 6 frames of 120x80 = 57 600: refused
    assert animations.render("moving.gif", "w_60", "gif", settings=tight).n_frames == 6  # type: ignore[attr-defined]
    with pytest.raises(BadRequest, match="6 frames"):
        animations.render("moving.gif", "-", "gif", settings=tight)
    # a still format needs one frame only
    assert animations.render("moving.gif", "-", "png", settings=tight).size == (120, 80)


def test_maxb_applies_to_animations(animations: Animations) -> None:
    plain = len(animations.render_bytes("moving.webp", "q_100", "webp"))
    fitted = animations.render_bytes("moving.webp", f"maxb_{plain // 2},q_100", "webp")
    assert len(fitted) <= plain // 2
    assert Image.open(io.BytesIO(fitted)).n_frames == 5  # type: ignore[attr-defined]


def test_animated_gif_over_http(serve: ServerFactory, tmp_path: Path) -> None:
    server = serve(nginx=False)
    ids = ingest_paths(make_settings(server.layout.root), [write_gif(tmp_path / "moving.gif")])
    response = server.get(f"/img/_/w_60/{ids['moving.gif']}.gif")
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    image = Image.open(io.BytesIO(response.content))
    assert image.n_frames == 6 and durations(image) == GIF_DURATIONS  # type: ignore[attr-defined]
