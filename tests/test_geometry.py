"""Output geometry: the size rules of DESIGN §2, table-driven."""

from __future__ import annotations

import pytest

from origin.geometry import plan
from origin.options import parse_options

SOURCE = (4000, 3000)


@pytest.mark.parametrize(
    ("options", "canvas", "size"),
    [
        # no box: original size
        ("-", (4000, 3000), (4000, 3000)),
        # inside: fit within, keep aspect, never upscale
        ("w_800", (800, 600), (800, 600)),
        ("h_300", (400, 300), (400, 300)),
        ("h_300,w_800", (400, 300), (400, 300)),
        ("h_800,w_800", (800, 600), (800, 600)),
        ("w_8000", (4000, 3000), (4000, 3000)),
        ("h_8000,w_7000", (4000, 3000), (4000, 3000)),
        ("enlarge_1,w_8000", (8000, 6000), (8000, 6000)),
        ("w_1", (1, 1), (1, 1)),
        ("w_3", (3, 2), (3, 2)),  # 2.25 rounds to 2
        ("dpr_2,w_400", (800, 600), (800, 600)),
        ("dpr_2.5,w_100", (250, 188), (250, 188)),  # 187.5 rounds half up
        # single dimension: cover and contain behave like inside
        ("fit_cover,w_800", (800, 600), (800, 600)),
        ("fit_contain,h_300", (400, 300), (400, 300)),
        # cover: exact box
        ("fit_cover,h_800,w_800", (800, 800), (800, 800)),
        ("fit_cover,h_100,w_1000", (1000, 100), (1000, 100)),
        ("fit_cover,h_3000,w_1", (1, 3000), (1, 3000)),
        # cover larger than the source: the largest box of that aspect inside the source
        ("fit_cover,h_1000,w_8000", (4000, 500), (4000, 500)),
        ("fit_cover,h_6000,w_6000", (3000, 3000), (3000, 3000)),
        ("fit_cover,h_4000,w_2000", (1500, 3000), (1500, 3000)),
        ("enlarge_1,fit_cover,h_6000,w_6000", (6000, 6000), (6000, 6000)),
        # contain: always the exact box
        ("fit_contain,h_800,w_800", (800, 800), (800, 600)),
        ("fit_contain,h_6000,w_6000", (6000, 6000), (4000, 3000)),
        ("enlarge_1,fit_contain,h_6000,w_6000", (6000, 6000), (6000, 4500)),
        ("fit_contain,h_10,w_1000", (1000, 10), (13, 10)),
    ],
)
def test_sizes(options: str, canvas: tuple[int, int], size: tuple[int, int]) -> None:
    geometry = plan(SOURCE, parse_options(options), None)
    assert geometry.canvas == canvas
    assert geometry.size == size


@pytest.mark.parametrize(
    "options",
    [
        "w_800",
        "fit_cover,h_800,w_800",
        "fit_cover,h_100,w_1000",
        "fit_contain,h_800,w_800",
        "fit_cover,h_1000,w_8000",
        "fit_cover,h_4000,w_2000",
        "dpr_3,fit_cover,h_77,w_123",
    ],
)
def test_never_distorts(options: str) -> None:
    """The picture's scale is the same on both axes (within rounding of one pixel)."""
    geometry = plan(SOURCE, parse_options(options), None)
    left, top, right, bottom = geometry.crop
    scale_x = geometry.size[0] / (right - left)
    scale_y = geometry.size[1] / (bottom - top)
    assert abs(scale_x - scale_y) <= max(1 / (right - left), 1 / (bottom - top)) * 1.01 + 1e-9


@pytest.mark.parametrize(
    ("gravity", "crop"),
    [
        ("center", (500, 0, 3500, 3000)),
        ("w", (0, 0, 3000, 3000)),
        ("e", (1000, 0, 4000, 3000)),
        ("nw", (0, 0, 3000, 3000)),
        ("se", (1000, 0, 4000, 3000)),
        ("n", (500, 0, 3500, 3000)),
    ],
)
def test_cover_gravity(gravity: str, crop: tuple[int, int, int, int]) -> None:
    geometry = plan(SOURCE, parse_options(f"fit_cover,g_{gravity},h_100,w_100"), None)
    assert geometry.crop == pytest.approx(crop)


def test_cover_vertical_gravity() -> None:
    wide = parse_options("fit_cover,g_s,h_100,w_400")
    assert plan(SOURCE, wide, None).crop == pytest.approx((0, 2000, 4000, 3000))
    north = parse_options("fit_cover,g_n,h_100,w_400")
    assert plan(SOURCE, north, None).crop == pytest.approx((0, 0, 4000, 1000))


@pytest.mark.parametrize(
    ("focal", "crop"),
    [
        ((0.5, 0.5), (500, 0, 3500, 3000)),
        ((0.0, 0.0), (0, 0, 3000, 3000)),
        ((1.0, 1.0), (1000, 0, 4000, 3000)),
        ((0.4, 0.5), (100, 0, 3100, 3000)),
    ],
)
def test_focal_point_centres_the_crop_and_clamps(
    focal: tuple[float, float], crop: tuple[int, int, int, int]
) -> None:
    stored = plan(SOURCE, parse_options("fit_cover,g_focal,h_100,w_100"), focal)
    explicit = plan(
        SOURCE, parse_options(f"fit_cover,fx_{focal[0]},fy_{focal[1]},h_100,w_100"), None
    )
    assert stored.crop == pytest.approx(crop)
    assert explicit.crop == pytest.approx(crop)


def test_stored_focal_only_used_with_g_focal() -> None:
    geometry = plan(SOURCE, parse_options("fit_cover,h_100,w_100"), (0.0, 0.0))
    assert geometry.crop == pytest.approx((500, 0, 3500, 3000))


def test_contain_centres_the_picture() -> None:
    geometry = plan(SOURCE, parse_options("fit_contain,h_800,w_800"), None)
    assert geometry.offset == (0, 100)
