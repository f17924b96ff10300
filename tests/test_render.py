"""Pixel tests of the render pipeline on real photographs (in-process).

Expected sizes are computed here from DESIGN §2's rules, independently of
``origin.geometry``; expected pictures come from plain Pillow calls.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from indexer.catalog import ImageRecord, get_image
from indexer.config import Settings
from indexer.db import open_database
from indexer.layout import DataLayout
from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import render, run_pipeline
from tests.conftest import ingest_paths, make_settings, photo
from tests.imaging_helpers import (
    assert_looks_like,
    decode,
    swapped_primaries_profile,
    with_orientation,
)

LANDSCAPE = "Bridge_by_Sander_Klootwijk.jpg"  # 4352x2448
PORTRAIT = "Wine_by_Jakkub_Mede.jpg"  # 2560x3837
TRANSPARENT = "Arc-Colors-Transparent-Wallpaper.png"  # 2140x1200, alpha 0..122
FORMATS = ("jpg", "png", "webp", "avif", "gif")
DECODED_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF"}


class Library:
    """Ingested photos and a render function for them."""

    def __init__(self, settings: Settings, ids: dict[str, str]) -> None:
        self.settings = settings
        self.layout = DataLayout.at(settings.data_dir)
        self.ids = ids
        self.db = open_database(self.layout.database)

    def record(self, name: str) -> ImageRecord:
        record = get_image(self.db, self.ids[name])
        assert record is not None
        return record

    def render(self, name: str, options: str, fmt: str = "png") -> Image.Image:
        job = render_job(self.settings, self.layout, self.record(name), parse_options(options), fmt)
        image = decode(render(job))
        assert image.format == DECODED_FORMAT[fmt]
        return image

    def add(self, path: Path) -> str:
        return ingest_paths(self.settings, [path])[path.name]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    settings = make_settings(tmp_path_factory.mktemp("render") / "data")
    names = [LANDSCAPE, PORTRAIT, TRANSPARENT, "FreshFlower.jpg", "Stripes.png", "goldfish.png"]
    return Library(settings, ingest_paths(settings, [photo(name) for name in names]))


def expected_size(
    source: tuple[int, int], w: int | None, h: int | None, fit: str, enlarge: bool = False
) -> tuple[int, int]:
    """DESIGN §2, written out independently."""
    sw, sh = source
    if w is None and h is None:
        return source
    if w is None or h is None or fit == "inside":
        scale = min(b / s for b, s in ((w, sw), (h, sh)) if b)
        scale = scale if enlarge else min(scale, 1.0)
        return max(1, math.floor(sw * scale + 0.5)), max(1, math.floor(sh * scale + 0.5))
    if fit == "contain":
        return w, h
    if enlarge or (w <= sw and h <= sh) or max(w / sw, h / sh) <= 1:
        return w, h
    if sw / sh > w / h:  # source wider than the box: full height
        return min(sw, math.floor(sh * w / h + 0.5)), sh
    return sw, min(sh, math.floor(sw * h / w + 0.5))


BOXES = [
    (800, None),
    (None, 300),
    (640, 480),
    (300, 300),
    (2000, 100),
    (50, 2000),
    (8000, 6000),
    (5000, 500),
    (1, 1),
    (8192, 8192),
]


SIZE_CASES = [
    (fit, box)
    for fit in ("inside", "cover", "contain")
    for box in BOXES
    # contain always returns the exact box: 8192x8192 is over limits.max_output_pixels
    # (a 400 over HTTP, tested in test_delivery.py)
    if not (fit == "contain" and box == (8192, 8192))
]


@pytest.mark.parametrize(("fit", "box"), SIZE_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("name", [LANDSCAPE, PORTRAIT])
def test_exact_output_size(
    library: Library, name: str, fit: str, box: tuple[int | None, int | None]
) -> None:
    w, h = box
    tokens = [f"fit_{fit}"] + ([f"w_{w}"] if w else []) + ([f"h_{h}"] if h else [])
    record = library.record(name)
    image = library.render(name, ",".join(tokens), "jpg")
    assert image.size == expected_size((record.width, record.height), w, h, fit)


@pytest.mark.parametrize("name", [LANDSCAPE, PORTRAIT])
def test_enlarge(library: Library, name: str) -> None:
    record = library.record(name)
    big = library.render(name, "enlarge_1,fit_cover,h_5000,w_5000", "jpg")
    assert big.size == (5000, 5000)
    inside = library.render(name, "enlarge_1,w_6000", "jpg")
    assert inside.size == expected_size((record.width, record.height), 6000, None, "inside", True)


def test_inside_matches_a_plain_resize(library: Library) -> None:
    original = Image.open(photo(LANDSCAPE)).convert("RGB")
    rendered = library.render(LANDSCAPE, "w_600")
    reference = original.resize(rendered.size, Image.Resampling.LANCZOS)
    assert_looks_like(rendered, reference, max_mean=3.0)


@pytest.mark.parametrize(
    "gravity,centering", [("center", (0.5, 0.5)), ("w", (0.0, 0.5)), ("e", (1.0, 0.5))]
)
def test_cover_matches_pillow_fit(
    library: Library, gravity: str, centering: tuple[float, float]
) -> None:
    """The crop keeps the requested shape and the right part of the picture."""
    original = Image.open(photo(LANDSCAPE)).convert("RGB")
    rendered = library.render(LANDSCAPE, f"fit_cover,g_{gravity},h_300,w_300")
    reference = ImageOps.fit(original, (300, 300), Image.Resampling.LANCZOS, centering=centering)
    assert_looks_like(rendered, reference, max_mean=4.0)


def test_other_gravities_give_other_pictures(library: Library) -> None:
    west = library.render(LANDSCAPE, "fit_cover,g_w,h_300,w_300")
    east = library.render(LANDSCAPE, "fit_cover,g_e,h_300,w_300")
    from tests.imaging_helpers import difference

    assert difference(west, east) > 10


def test_contain_pads_with_background(library: Library) -> None:
    rendered = library.render(LANDSCAPE, "bg_ff0000,fit_contain,h_400,w_400", "png")
    assert rendered.size == (400, 400)
    rgb = rendered.convert("RGB")
    assert rgb.getpixel((200, 2)) == (255, 0, 0)  # padding above the picture
    assert rgb.getpixel((200, 397)) == (255, 0, 0)
    assert rgb.getpixel((200, 200)) != (255, 0, 0)


def test_contain_pads_transparent_by_default_where_alpha_exists(library: Library) -> None:
    rendered = library.render(LANDSCAPE, "fit_contain,h_400,w_400", "png")
    assert rendered.mode == "RGBA"
    assert rendered.getpixel((200, 2))[3] == 0
    jpeg = library.render(LANDSCAPE, "fit_contain,h_400,w_400", "jpg")
    assert jpeg.convert("RGB").getpixel((200, 2)) == (255, 255, 255)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_comes_out_upright(
    library: Library, tmp_path: Path, orientation: int
) -> None:
    upright = Image.open(photo("FreshFlower.jpg")).convert("RGB")
    upright.thumbnail((600, 600))
    source = tmp_path / f"oriented-{orientation}.jpg"
    source.write_bytes(with_orientation(upright, orientation))
    image_id = library.add(source)
    record = get_image(library.db, image_id)
    assert record is not None and (record.width, record.height) == upright.size
    job = render_job(library.settings, library.layout, record, parse_options("w_300"), "jpg")
    rendered = decode(render(job))
    assert rendered.size == (300, round(300 * upright.height / upright.width))
    assert_looks_like(rendered, upright.resize(rendered.size), max_mean=6.0)
    assert not rendered.getexif()  # metadata stripped


@pytest.mark.parametrize(
    ("rot", "flip"), [(90, None), (180, None), (270, None), (None, "h"), (None, "v"), (90, "hv")]
)
def test_rotate_and_flip(library: Library, rot: int | None, flip: str | None) -> None:
    original = Image.open(photo("FreshFlower.jpg")).convert("RGB")
    tokens = ["w_400"] + ([f"rot_{rot}"] if rot else []) + ([f"flip_{flip}"] if flip else [])
    rendered = library.render("FreshFlower.jpg", ",".join(tokens))
    expected = original
    if rot:
        expected = expected.rotate(-rot, expand=True)  # rot is clockwise
    if flip and "h" in flip:
        expected = ImageOps.mirror(expected)
    if flip and "v" in flip:
        expected = ImageOps.flip(expected)
    assert rendered.width == 400
    assert_looks_like(rendered, expected.resize(rendered.size), max_mean=4.0)


@pytest.mark.parametrize("fmt", ["png", "webp", "avif", "gif"])
def test_alpha_is_kept_where_the_format_has_it(library: Library, fmt: str) -> None:
    rendered = library.render(TRANSPARENT, "w_500", fmt).convert("RGBA")
    low, high = rendered.getchannel("A").getextrema()
    assert low == 0 and high >= 110


def test_opaque_alpha_channel_is_dropped(library: Library) -> None:
    """goldfish.png is RGBA but fully opaque: it negotiates and renders like a photo."""
    assert not library.record("goldfish.png").has_alpha
    assert library.render("goldfish.png", "w_300", "png").mode == "RGB"


def test_alpha_is_flattened_on_white_for_jpeg(library: Library) -> None:
    original = Image.open(photo(TRANSPARENT)).convert("RGBA")
    x, y = _transparent_pixel(original)
    rendered = library.render(TRANSPARENT, "-", "jpg")
    assert rendered.mode == "RGB"
    assert all(channel > 245 for channel in rendered.getpixel((x, y)))


def test_opaque_bg_flattens_png(library: Library) -> None:
    original = Image.open(photo(TRANSPARENT)).convert("RGBA")
    x, y = _transparent_pixel(original)
    rendered = library.render(TRANSPARENT, "bg_00ff00", "png")
    assert rendered.mode == "RGB"
    assert rendered.getpixel((x, y)) == (0, 255, 0)


def _transparent_pixel(image: Image.Image) -> tuple[int, int]:
    alpha = image.getchannel("A")
    for y in range(0, image.height, 7):
        for x in range(0, image.width, 7):
            if alpha.getpixel((x, y)) == 0:
                return x, y
    raise AssertionError("no transparent pixel")


def test_grey_with_alpha_source(library: Library) -> None:
    """Stripes.png is LA (grey + alpha)."""
    rendered = library.render("Stripes.png", "w_300", "webp")
    assert rendered.width == 300


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", [LANDSCAPE, TRANSPARENT])
def test_every_format_decodes(library: Library, name: str, fmt: str) -> None:
    rendered = library.render(name, "w_320", fmt)
    assert rendered.width == 320


def test_quality_changes_size(library: Library) -> None:
    record = library.record(LANDSCAPE)
    sizes = []
    for quality in ("q_low", "q_high", "q_20", "q_95"):
        job = render_job(
            library.settings, library.layout, record, parse_options(f"{quality},w_600"), "jpg"
        )
        sizes.append(len(render(job)))
    low, high, q20, q95 = sizes
    assert low < high and q20 < q95


def test_cmyk_jpeg_keeps_its_colours(library: Library, tmp_path: Path) -> None:
    original = Image.open(photo("FreshFlower.jpg")).convert("RGB")
    original.thumbnail((800, 800))
    source = tmp_path / "cmyk.jpg"
    original.convert("CMYK").save(source, "JPEG", quality=95)
    with Image.open(source) as stored:
        assert stored.mode == "CMYK"
    image_id = library.add(source)
    record = get_image(library.db, image_id)
    assert record is not None
    job = render_job(library.settings, library.layout, record, parse_options("w_400"), "png")
    rendered = decode(render(job))
    assert rendered.mode == "RGB"
    assert_looks_like(rendered, original.resize(rendered.size), max_mean=6.0)


def test_icc_profile_is_converted_to_srgb(library: Library, tmp_path: Path) -> None:
    """Pure red stored under a profile whose red means green must come out green."""
    source = tmp_path / "swapped.png"
    Image.new("RGB", (300, 200), (255, 0, 0)).save(source, icc_profile=swapped_primaries_profile())
    image_id = library.add(source)
    record = get_image(library.db, image_id)
    assert record is not None
    for fmt in ("png", "jpg"):
        job = render_job(library.settings, library.layout, record, parse_options("w_100"), fmt)
        rendered = decode(render(job))
        red, green, blue = rendered.convert("RGB").getpixel((50, 50))
        assert green > 200 and red < 60 and blue < 60, (fmt, (red, green, blue))
        assert "icc_profile" not in rendered.info or fmt == "png"


@pytest.mark.parametrize("mode", ["I;16", "L", "P", "1", "LA", "RGBA", "CMYK"])
def test_source_modes(library: Library, tmp_path: Path, mode: str) -> None:
    base = Image.open(photo("FreshFlower.jpg")).convert("RGB").resize((320, 240))
    if mode == "I;16":
        image = Image.frombytes(
            "I;16",
            base.size,
            bytes(
                b
                for value in base.convert("L").tobytes()
                for b in (value * 257).to_bytes(2, "little")
            ),
        )
        fmt, name = "PNG", "sixteen.png"
    else:
        image, fmt = base.convert(mode), "TIFF" if mode == "CMYK" else "PNG"
        name = f"mode-{mode.replace(';', '')}.{fmt.lower()}"
    source = tmp_path / name
    image.save(source, fmt)
    image_id = library.add(source)
    record = get_image(library.db, image_id)
    assert record is not None
    job = render_job(library.settings, library.layout, record, parse_options("w_160"), "png")
    rendered = decode(render(job))
    assert rendered.size == (160, 120)
    if mode in ("I;16", "L"):
        # 16-bit grey is scaled to 8 bits, not clipped to white
        assert_looks_like(rendered, base.convert("L").resize((160, 120)), max_mean=6.0)


def test_pyramid_render_equals_full_resolution_render(library: Library) -> None:
    """Rendering from a pyramid level looks the same as from the original."""
    record = library.record(LANDSCAPE)
    assert record.pyramid, "the big photo should have pyramid levels"
    options = parse_options("w_500")
    from_pyramid = run_pipeline(
        render_job(library.settings, library.layout, record, options, "png")
    )
    without = ImageRecord(**{**record.__dict__, "pyramid": ()})
    from_original = run_pipeline(
        render_job(library.settings, library.layout, without, options, "png")
    )
    assert from_pyramid.size == from_original.size
    assert_looks_like(from_pyramid, from_original, max_mean=2.0)


def test_output_is_stripped_of_metadata(library: Library, tmp_path: Path) -> None:
    base = Image.open(photo("FreshFlower.jpg")).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    source = tmp_path / "meta.jpg"
    base.save(source, "JPEG", exif=exif.tobytes(), comment=b"hello")
    image_id = library.add(source)
    record = get_image(library.db, image_id)
    assert record is not None
    for fmt in ("jpg", "webp", "png", "avif"):
        job = render_job(library.settings, library.layout, record, parse_options("w_200"), fmt)
        data = render(job)
        assert b"SecretCam" not in data
        assert not decode(data).getexif()
    assert io  # keep import for readability of helpers above


@pytest.mark.parametrize("codec", ["svt", "aom"])
@pytest.mark.parametrize("width", [1, 3, 4, 640])
def test_avif_encoders_at_every_size(library: Library, codec: str, width: int) -> None:
    """SVT-AV1 refuses pictures under 4 px a side: those fall back to aom."""
    settings = library.settings.model_copy(
        update={"output": library.settings.output.model_copy(update={"avif_codec": codec})}
    )
    record = library.record(TRANSPARENT)
    job = render_job(settings, library.layout, record, parse_options(f"w_{width}"), "avif")
    image = decode(render(job))
    assert image.format == "AVIF" and image.width == width
    assert image.mode == "RGBA"
