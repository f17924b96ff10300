"""Creative options: smart and face crops, filters, watermarks, text, ``maxb``.

Pixel tests render in-process through the real pipeline (``render_job`` + ``render``)
from images ingested into a real data directory; a few go over HTTP to check that
400 and 422 reach the client.  Pictures are made here so every expectation can be
computed from first principles (a flat grey for overlays, a drawn face for the
detector, a textured patch for the saliency crop).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from indexer.catalog import get_image
from indexer.config import ConfigError, Settings
from indexer.db import open_database
from indexer.errors import BadRequest, Unprocessable
from indexer.layout import DataLayout
from origin import overlay, smartcrop
from origin.bytebudget import encode_within
from origin.delivery import render_job
from origin.options import parse_options
from origin.pipeline import render
from origin.services import parse_presets
from tests.conftest import ServerFactory, ingest_paths, make_settings, photo

GREY = (128, 128, 128)
PHOTO = "Dune.jpg"  # 1680x1050, sharp grass against a soft background


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- pictures made for the tests --------------------------------------------------------


def drawn_face(size: int = 200) -> Image.Image:
    """A grey cartoon face that OpenCV's frontal-face Haar cascade detects: dark brows,
    eyes and mouth on a lighter oval, a bright nose bridge, softened like a photo."""
    s = size / 200
    face = Image.new("L", (size, round(size * 1.25)), 200)
    draw = ImageDraw.Draw(face)

    def oval(box: tuple[int, int, int, int], shade: int) -> None:
        draw.ellipse([v * s for v in box], fill=shade)

    oval((20, 20, 180, 230), 170)
    draw.rectangle([45 * s, 70 * s, 85 * s, 78 * s], fill=50)
    draw.rectangle([115 * s, 70 * s, 155 * s, 78 * s], fill=50)
    oval((50, 88, 82, 108), 40)
    oval((118, 88, 150, 108), 40)
    draw.polygon([(100 * s, 100 * s), (88 * s, 150 * s), (112 * s, 150 * s)], fill=190)
    oval((90, 145, 110, 157), 110)
    oval((70, 170, 130, 190), 70)
    return face.filter(ImageFilter.GaussianBlur(3 * s))


def textured(size: tuple[int, int], seed: int) -> Image.Image:
    noise = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(noise, "RGB")


def face_scene() -> Image.Image:
    """1200x400: busy texture on the left, a face on the right, flat grey between."""
    scene = Image.new("RGB", (1200, 400), (120, 120, 120))
    scene.paste(textured((250, 400), seed=1), (0, 0))
    scene.paste(drawn_face().convert("RGB"), (950, 60))
    return scene


def smart_scene() -> Image.Image:
    """1200x400 flat grey with one colourful textured patch near the right edge."""
    scene = Image.new("RGB", (1200, 400), GREY)
    scene.paste(textured((200, 200), seed=2), (900, 100))
    return scene


PICTURES: dict[str, Callable[[], Image.Image]] = {
    "grey.png": lambda: Image.new("RGB", (400, 300), GREY),
    "colour.png": lambda: Image.new("RGB", (200, 100), (100, 150, 200)),
    "face.png": face_scene,
    "smart.png": smart_scene,
    "stripes.png": lambda: Image.fromarray(
        np.tile(np.where(np.arange(400) % 8 < 4, 30, 220).astype(np.uint8), (300, 1)), "L"
    ).convert("RGB"),
}


class Library:
    def __init__(self, settings: Settings, ids: dict[str, str]) -> None:
        self.settings, self.ids = settings, ids
        self.layout = DataLayout.at(settings.data_dir)

    def render(self, name: str, options: str, fmt: str = "png",
               settings: Settings | None = None) -> bytes:
        with closing(open_database(self.layout.database)) as db:
            record = get_image(db, self.ids[name])
        assert record is not None
        job = render_job(settings or self.settings, self.layout, record,
                         parse_options(options), fmt)
        return render(job)

    def picture(self, name: str, options: str, fmt: str = "png") -> Image.Image:
        image = Image.open(io.BytesIO(self.render(name, options, fmt)))
        image.load()
        return image


@pytest.fixture(scope="module")
def marks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("marks")
    red = folder / "red.png"
    Image.new("RGBA", (100, 50), (255, 0, 0, 255)).save(red)
    return {"red": red}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, marks: dict[str, Path]) -> Library:
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for name, make in PICTURES.items():
        make().save(folder / name)
        paths.append(folder / name)
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        watermarks={
            "red": {"path": marks["red"], "position": "se", "opacity": 0.5, "size": 0.2},
            "big": {"path": marks["red"], "size": 1.0, "opacity": 1.0, "position": "center"},
        },
    )
    return Library(settings, ingest_paths(settings, [*paths, photo(PHOTO)]))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def high_frequency_energy(image: Image.Image) -> float:
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(luma, axis=0)).mean() + np.abs(np.diff(luma, axis=1)).mean())


# --- parsing: canonical forms and every bad value ---------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("blur_2.50", "blur_2.5"),
        ("sharpen_0.3", "sharpen_0.3"),
        ("gray_1,sepia_0", "gray_1"),
        ("sepia_1", "sepia_1"),
        ("g_smart,fit_cover,w_10,h_10", "fit_cover,g_smart,h_10,w_10"),
        ("g_face", "g_face"),
        ("wmop_0.50,wm_logo,wmpos_nw", "wm_logo,wmop_0.5,wmpos_nw"),
        ("maxb_010000", "maxb_10000"),
        (f"txt_{b64('hi')}==,txtcolor_FFFFFF,txtpos_s", f"txt_{b64('hi')}"),
        (f"txtcolor_ff000080,txt_{b64('hi')},txtsize_012", "txt_aGk,txtcolor_ff000080,txtsize_12"),
    ],
)
def test_canonical_forms(given: str, canonical: str) -> None:
    assert parse_options(given).canonical == canonical


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("blur_0.2", "'blur_0.2'"),
        ("blur_101", "'blur_101'"),
        ("blur_x", "'blur_x'"),
        ("sharpen_0", "'sharpen_0'"),
        ("sharpen_100.5", "'sharpen_100.5'"),
        ("gray_2", "'gray_2'"),
        ("sepia_yes", "'sepia_yes'"),
        ("g_faces", "'g_faces'"),
        ("wm_Logo", "'wm_Logo'"),
        ("wm_a.png", "'wm_a.png'"),
        ("wm_x,wmpos_middle", "'wmpos_middle'"),
        ("wm_x,wmop_1.5", "'wmop_1.5'"),
        ("wm_x,wmop_-1", "'wmop_-1'"),
        ("wmpos_se", "'wmpos'"),
        ("wmop_0.5", "'wmop'"),
        ("txtsize_20", "'txtsize'"),
        ("txtcolor_ffffff", "'txtcolor'"),
        ("txtpos_n", "'txtpos'"),
        ("txt_@@@", "'txt_@@@'"),
        ("txt_" + b64(""), "'txt_'"),
        ("txt_" + b64("   "), "'txt_ICAg'"),
        ("txt_" + base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), "'txt___79'"),
        ("txt_" + b64("a\x00b"), "'txt_YQBi'"),
        ("txt_" + b64("x" * 101), "longer than 100 characters"),
        ("txt_" + b64("я" * 61), "120 UTF-8 bytes"),
        ("txt_" + b64("x" * 200), "120 UTF-8 bytes"),
        (f"txt_{b64('é' * 60)},bg_ffffff80,blur_99.5,fit_contain,h_8000,maxb_99999999,"
         "rot_90,sepia_1,sharpen_99.5,w_8000", "longer than 240 characters in canonical form"),
        ("txt_" + b64("1\n2\n3\n4\n5"), "more than 4 lines"),
        (f"txt_{b64('hi')},txtsize_3", "'txtsize_3'"),
        (f"txt_{b64('hi')},txtsize_513", "'txtsize_513'"),
        (f"txt_{b64('hi')},txtcolor_red", "'txtcolor_red'"),
        (f"txt_{b64('hi')},txtpos_top", "'txtpos_top'"),
        ("maxb_255", "'maxb_255'"),
        ("maxb_100000001", "'maxb_100000001'"),
        ("maxb_1e6", "'maxb_1e6'"),
    ],
)
def test_bad_values_are_400_naming_the_token(given: str, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_options(given)
    assert caught.value.status == 400
    assert named in caught.value.public


def test_longest_accepted_options_fit_a_cache_file_name() -> None:
    longest = parse_options(f"txt_{b64('é' * 60)},txtcolor_ff000080,txtsize_512,"
                            "txtpos_center,w_8192,h_8192,maxb_99999999").canonical
    assert len(f"{longest}.auto.webp".encode()) <= 255


def test_text_round_trips_any_script() -> None:
    text = "Hello, мир! שלום مرحبا 你好 😀"
    assert parse_options(f"txt_{b64(text)}").txt == text


# --- filters ------------------------------------------------------------------------------


def test_gray_has_equal_channels(library: Library) -> None:
    image = pixels(library.picture(PHOTO, "gray_1,w_400"))
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    colour = pixels(library.picture(PHOTO, "w_400"))
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 10  # the source is not grey


def test_sepia_applies_the_sepia_matrix(library: Library) -> None:
    red, green, blue = library.picture("colour.png", "sepia_1").getpixel((50, 50))  # type: ignore[misc]
    r, g, b = 100, 150, 200
    expected = (0.393 * r + 0.769 * g + 0.189 * b, 0.349 * r + 0.686 * g + 0.168 * b,
                0.272 * r + 0.534 * g + 0.131 * b)
    assert [abs(got - min(255, want)) <= 1 for got, want in
            zip((red, green, blue), expected, strict=True)] == [True] * 3
    assert red >= green >= blue


def test_blur_lowers_and_sharpen_raises_high_frequency_energy(library: Library) -> None:
    plain = high_frequency_energy(library.picture(PHOTO, "w_600"))
    blurred = high_frequency_energy(library.picture(PHOTO, "blur_2,w_600"))
    blurred_more = high_frequency_energy(library.picture(PHOTO, "blur_8,w_600"))
    sharpened = high_frequency_energy(library.picture(PHOTO, "sharpen_1,w_600"))
    assert blurred_more < blurred < plain * 0.8
    assert sharpened > plain * 1.2


def test_filters_keep_transparency(library: Library, tmp_path: Path) -> None:
    source = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    source.paste((255, 0, 0, 255), (25, 25, 75, 75))
    source.save(tmp_path / "alpha.png")
    settings = library.settings
    ids = ingest_paths(settings, [tmp_path / "alpha.png"])
    library.ids.update(ids)
    image = library.picture("alpha.png", "blur_3,gray_1")
    assert image.mode == "RGBA"
    assert image.getpixel((2, 2))[3] == 0  # type: ignore[index]
    luma_of_red = round(0.299 * 255)
    assert image.getpixel((50, 50)) == (luma_of_red, luma_of_red, luma_of_red, 255)
    # On the blurred edge the colour stays that of the square (filtered premultiplied):
    # a straight blur would mix in the black hidden under the transparent pixels.
    red, green, blue, alpha = image.getpixel((24, 50))  # type: ignore[misc]
    assert 20 < alpha < 235 and red == green == blue and abs(red - luma_of_red) <= 3


# --- smart and face crops ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("hot", "window", "expected"),
    [
        ((0, 0), (3, 3), (0, 0)),  # the window covers the one salient pixel at the corner
        ((9, 9), (3, 3), (7, 7)),
        ((5, 2), (4, 10), (3, 0)),  # ties: of the windows holding it, the most central
        (None, (4, 4), (3, 3)),  # nothing salient: centred
    ],
)
def test_best_window(hot: tuple[int, int] | None, window: tuple[int, int],
                     expected: tuple[int, int]) -> None:
    weights = np.zeros((10, 10))
    if hot is not None:
        weights[hot[1], hot[0]] = 1.0
    assert smartcrop.best_window(weights, window) == expected


def test_the_drawn_face_is_detected_where_it_was_drawn() -> None:
    faces = smartcrop.detect_faces(face_scene())
    assert faces, "the Haar cascade must find the drawn face, or the face tests prove nothing"
    x, y, w, h = faces[0]
    # its centre lies on the drawn oval (x 970..1130, y 80..290 in the scene)
    assert 970 <= x + w / 2 <= 1130 and 80 <= y + h / 2 <= 290 and 100 <= w <= 300
    assert smartcrop.detect_faces(smart_scene()) == []


def test_g_face_keeps_the_face_in_a_cover_crop(library: Library) -> None:
    face = library.picture("face.png", "fit_cover,g_face,h_300,w_300")
    assert face.size == (300, 300)
    assert smartcrop.detect_faces(face), "the face must survive the crop"
    centred = library.picture("face.png", "fit_cover,h_300,w_300")
    assert not smartcrop.detect_faces(centred)  # a centred crop cuts it off


def test_g_smart_keeps_the_busiest_region(library: Library) -> None:
    smart = pixels(library.picture("smart.png", "fit_cover,g_smart,h_300,w_300"))
    centred = pixels(library.picture("smart.png", "fit_cover,h_300,w_300"))
    assert centred.std() < 1  # the centre is flat grey
    # the crop is x 800..1200 of the scene: the 200 px patch at x 900 lands on 75..225
    busy = np.nonzero((smart != GREY).any(axis=2).any(axis=0))[0]
    assert abs(busy.min() - 75) <= 2 and abs(busy.max() - 225) <= 2


def test_g_face_without_a_face_falls_back_to_smart(library: Library) -> None:
    face = library.render("smart.png", "fit_cover,g_face,h_300,w_300")
    smart = library.render("smart.png", "fit_cover,g_smart,h_300,w_300")
    assert face == smart


def test_g_smart_on_a_flat_picture_stays_centred(library: Library) -> None:
    smart = library.render("grey.png", "fit_cover,g_smart,h_100,w_100")
    centred = library.render("grey.png", "fit_cover,h_100,w_100")
    assert smart == centred


def test_explicit_focal_point_wins_over_g_smart(library: Library) -> None:
    focal = library.render("smart.png", "fit_cover,fx_0,g_smart,h_300,w_300")
    west = library.render("smart.png", "fit_cover,g_w,h_300,w_300")
    assert focal == west


# --- watermarks ---------------------------------------------------------------------------


def red_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the pixels the red watermark touched."""
    rgb = pixels(image)
    touched = (rgb[..., 0] - rgb[..., 1]) > 30
    ys, xs = np.nonzero(touched)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_watermark_position_size_and_opacity(library: Library) -> None:
    image = library.picture("grey.png", "wm_red")
    assert image.size == (400, 300)
    # size 0.2 of 400x300 → box 80x60; the 100x50 mark keeps 2:1 → 80x40; margin 2% of 300 = 6
    assert red_box(image) == (314, 254, 394, 294)
    # opacity 0.5 over grey: half red, half grey
    assert image.getpixel((354, 274)) == pytest.approx((192, 64, 64), abs=1)
    assert image.getpixel((200, 150)) == GREY


@pytest.mark.parametrize(
    ("options", "box", "colour"),
    [
        ("wm_red,wmpos_nw", (6, 6, 86, 46), (192, 64, 64)),
        ("wm_red,wmpos_center,wmop_1", (160, 130, 240, 170), (255, 0, 0)),
        ("wm_red,wmop_0.25,wmpos_s", (160, 254, 240, 294), (159, 96, 96)),
    ],
)
def test_watermark_overrides(library: Library, options: str, box: tuple[int, ...],
                             colour: tuple[int, int, int]) -> None:
    image = library.picture("grey.png", options)
    assert red_box(image) == box
    centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
    assert image.getpixel(centre) == pytest.approx(colour, abs=1)


def test_watermark_of_zero_opacity_changes_nothing(library: Library) -> None:
    assert library.render("grey.png", "wm_red,wmop_0") == library.render("grey.png", "-")


def test_watermark_is_never_enlarged_and_never_grows_the_output(library: Library) -> None:
    big = library.picture("grey.png", "wm_big")  # size 1.0 of 400x300, but the mark is 100x50
    assert big.size == (400, 300)
    assert red_box(big) == (150, 125, 250, 175)
    small = library.picture("grey.png", "w_40,wm_big")  # 40x30 output: the mark shrinks to 40x20
    assert small.size == (40, 30)
    left, top, right, bottom = red_box(small)
    assert (right - left, bottom - top) == (40, 20)


def test_unknown_watermark_is_400_naming_it(library: Library) -> None:
    with pytest.raises(BadRequest, match="'nosuch'"):
        library.render("grey.png", "wm_nosuch")


def test_preset_naming_an_unknown_watermark_stops_startup() -> None:
    with pytest.raises(ConfigError, match=r"presets\.stamped: unknown watermark 'nosuch'"):
        parse_presets({"stamped": "w_100,wm_nosuch"}, ["red"])
    assert parse_presets({"stamped": "w_100,wm_red"}, ["red"])["stamped"].wm == "red"


# --- text -----------------------------------------------------------------------------------


def changed_rows(image: Image.Image) -> np.ndarray:
    return np.nonzero((pixels(image) != GREY).any(axis=2).any(axis=1))[0]


def test_text_is_drawn_on_a_box_at_its_position(library: Library) -> None:
    image = library.picture("grey.png", f"txt_{b64('Hello')}")
    rows = changed_rows(image)
    assert rows.min() > 200 and rows.max() < 300  # txtpos defaults to s (bottom)
    rgb = pixels(image)[rows.min():rows.max() + 1]
    assert (rgb == 255).all(axis=2).sum() > 50  # white glyph pixels
    assert ((rgb < 100).all(axis=2)).sum() > 500  # the dark half-transparent box
    top = library.picture("grey.png", f"txt_{b64('Hello')},txtpos_n")
    assert changed_rows(top).max() < 100


def test_text_colour_and_size(library: Library) -> None:
    small = library.picture("grey.png", f"txt_{b64('Hi')},txtcolor_ff0000,txtsize_10")
    large = library.picture("grey.png", f"txt_{b64('Hi')},txtcolor_ff0000,txtsize_40")
    assert len(changed_rows(large)) > 2.5 * len(changed_rows(small))
    rgb = pixels(large)
    assert ((rgb[..., 0] > 200) & (rgb[..., 1] < 50)).sum() > 100  # red glyphs


def test_text_scales_with_dpr(library: Library) -> None:
    one = library.picture("grey.png", f"txt_{b64('Hi')},txtsize_20,w_200")
    two = library.picture("grey.png", f"dpr_2,txt_{b64('Hi')},txtsize_20,w_200")
    assert two.size == (400, 300) and one.size == (200, 150)
    assert len(changed_rows(two)) == pytest.approx(2 * len(changed_rows(one)), abs=3)


def test_long_text_shrinks_to_fit_the_output(library: Library) -> None:
    image = library.picture("grey.png", f"txt_{b64('W' * 100)},txtsize_60")
    rgb = pixels(image)
    columns = np.nonzero((rgb != GREY).any(axis=2).any(axis=0))[0]
    assert columns.min() >= 0 and columns.max() < 400
    assert columns.max() - columns.min() > 300  # it was shrunk, not dropped


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا بالعالم",
        "שלום עולם",
        "你好世界",
        "Ünïcödé e\u0301 😀👍🏽",
        "abc\u202edef",
        "two\nlines",
    ],
)
def test_any_script_renders_without_failing(library: Library, text: str) -> None:
    image = library.picture("grey.png", f"txt_{b64(text)}")
    assert len(changed_rows(image)) > 10


def test_basic_layout_without_raqm_does_not_fail(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ImageFont.truetype
    monkeypatch.setattr(
        ImageFont, "truetype",
        lambda path, size: real(path, size, layout_engine=ImageFont.Layout.BASIC),
    )
    overlay._local.__dict__.pop("fonts", None)  # fonts are cached per thread
    try:
        image = library.picture("grey.png", f"txt_{b64('مرحبا שלום')},txtsize_31")
    finally:
        overlay._local.__dict__.pop("fonts", None)
    assert len(changed_rows(image)) > 10


# --- maxb -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "limit"), [("jpg", 30_000), ("webp", 12_000), ("avif", 8_000)])
def test_maxb_output_fits(library: Library, fmt: str, limit: int) -> None:
    plain = library.render(PHOTO, "q_95,w_800", fmt)
    fitted = library.render(PHOTO, f"maxb_{limit},q_95,w_800", fmt)
    assert len(plain) > limit >= len(fitted)
    assert len(fitted) > limit * 0.6  # the best quality that fits, not the worst
    assert Image.open(io.BytesIO(fitted)).size == (800, 500)


def test_maxb_that_already_fits_changes_nothing(library: Library) -> None:
    assert library.render(PHOTO, "maxb_10000000,w_300", "jpg") == library.render(
        PHOTO, "w_300", "jpg")


@pytest.mark.parametrize(("options", "fmt"), [("maxb_256,w_800", "jpg"), ("maxb_256", "png")])
def test_maxb_that_cannot_fit_is_422(library: Library, options: str, fmt: str) -> None:
    with pytest.raises(Unprocessable, match="maxb_256") as caught:
        library.render(PHOTO, options, fmt)
    assert caught.value.status == 422


def test_maxb_searches_by_bisection() -> None:
    sizes = {quality: 1000 + 50 * quality for quality in range(1, 101)}  # monotonic
    tried: list[int] = []

    def encode_at(quality: int) -> bytes:
        tried.append(quality)
        return b"x" * sizes[quality]

    data = encode_within(encode_at, 90, 4000, "jpg")
    assert len(data) == sizes[60]  # the highest quality whose size fits
    assert len(tried) <= 9 and tried[:2] == [90, 1]


# --- over HTTP: errors reach the client with the right status ---------------------------


def test_creative_options_over_http(serve: ServerFactory, marks: dict[str, Path]) -> None:
    server = serve(nginx=False, config={"watermarks.red": {"path": str(marks["red"]),
                                                            "opacity": 1.0}})
    ids = ingest_paths(make_settings(server.layout.root), [photo(PHOTO)])
    image_id = ids[PHOTO]
    ok = server.get(f"/img/_/fit_cover,g_face,h_200,w_200,wm_red/{image_id}.png")
    assert ok.status_code == 200, ok.text
    picture = Image.open(io.BytesIO(ok.content)).convert("RGB")
    assert picture.size == (200, 200)
    assert picture.getpixel((190, 190)) == (255, 0, 0)  # opaque watermark, se corner
    unknown = server.get(f"/img/_/wm_nosuch/{image_id}.jpg")
    assert unknown.status_code == 400 and "nosuch" in unknown.json()["error"]
    bad = server.get(f"/img/_/blur_0.1/{image_id}.jpg")
    assert bad.status_code == 400 and "blur_0.1" in bad.json()["error"]
    too_small = server.get(f"/img/_/maxb_256,w_800/{image_id}.jpg")
    assert too_small.status_code == 422 and "maxb_256" in too_small.json()["error"]
    fits = server.get(f"/img/_/maxb_20000,w_800/{image_id}.jpg")
    assert fits.status_code == 200 and len(fits.content) <= 20_000


def test_text_variant_is_a_plain_file_hit_behind_nginx(serve: ServerFactory) -> None:
    server = serve(nginx=True)
    ids = ingest_paths(make_settings(server.layout.root), [photo(PHOTO)])
    text = b64("Ünïcödé ~ ?? >> «quoted» / \\ 🙂")  # base64url with '-' and '_'
    assert "-" in text and "_" in text
    url = f"/img/_/txt_{text},w_300/{ids[PHOTO]}.webp"
    first, second = server.get(url), server.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
