"""Rendering as a literal, ordered list of small steps (imgproxy's design).

Geometry is computed once, before any pixel is decoded, in the coordinates of the
upright (EXIF-oriented, then ``rot``-rotated) source.  Each step takes the render
context, changes the image or returns early when it does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from indexer import imaging
from indexer.catalog import ImageRecord
from indexer.config import WatermarkSettings
from indexer.masters import pixel_source
from indexer.pyramid import level_name
from origin import effects, overlay, smartcrop
from origin.animation import Animation, check_budget, encode_animation, is_animated, source_frames
from origin.bytebudget import encode_within
from origin.formats import ALPHA_FORMATS, EncoderSettings, encode
from origin.geometry import Geometry, Size, plan
from origin.options import Options

RESAMPLERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}
ROTATIONS = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}  # ``rot`` is clockwise; PIL's are counter-clockwise
FLIPS = {
    "h": (Image.Transpose.FLIP_LEFT_RIGHT,),
    "v": (Image.Transpose.FLIP_TOP_BOTTOM,),
    "hv": (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM),
}
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class RenderJob:
    record: ImageRecord
    original: Path
    pyramid_dir: Path
    options: Options
    fmt: str
    encoder: EncoderSettings
    watermark: WatermarkSettings | None = None  # resolved from ``options.wm``
    font: Path = overlay.BUNDLED_FONT  # for ``txt``
    max_frames: int = 100  # animation frames rendered
    max_output_pixels: int = 40_000_000  # frames x pixels bound for animations


@dataclass
class Context:
    job: RenderJob
    geometry: Geometry
    frame: Size  # size of the upright source that ``geometry`` refers to
    image: Image.Image
    from_pyramid: bool = False
    crop_refined: bool = False  # g_smart/g_face placed the crop (once per animation)
    layers: dict[tuple[object, ...], Image.Image] = field(default_factory=dict)  # text overlays


def upright_frame(record: ImageRecord, options: Options) -> Size:
    size = (record.width, record.height)
    return (size[1], size[0]) if options.rot in (90, 270) else size


def prepare(job: RenderJob) -> Context:
    frame = upright_frame(job.record, job.options)
    geometry = plan(frame, job.options, job.record.focal)
    return Context(job, geometry, frame, Image.new("RGB", (1, 1)))


def load(ctx: Context) -> None:
    """Open the smallest pyramid level with enough pixels, else the original (JPEGs in
    draft mode, which lets libjpeg decode at 1/2, 1/4 or 1/8 scale)."""
    record, needed = ctx.job.record, ctx.geometry.scale
    for long_edge in sorted(record.pyramid):
        if long_edge >= needed * max(record.width, record.height):
            name = level_name(long_edge, record.has_alpha)
            ctx.image, ctx.from_pyramid = Image.open(ctx.job.pyramid_dir / name), True
            ctx.image.load()
            return
    # SVG and RAW originals are read from their rasterised master (indexer.masters).
    image = imaging.open_image(str(pixel_source(record, ctx.job.original, ctx.job.pyramid_dir)))
    if image.format == "JPEG" and needed < 1:
        raw = image.size
        image.draft(image.mode, (math.ceil(raw[0] * needed), math.ceil(raw[1] * needed)))
    image.load()
    ctx.image = _without_file(image)


def _without_file(image: Image.Image) -> Image.Image:
    """Formats that may hold several frames (GIF, PNG, TIFF, ...) keep their file open
    after ``load()`` for the next frames: keep the decoded frame, close the file now
    (not whenever the garbage collector gets to it)."""
    if not hasattr(image, "n_frames"):
        return image
    frame = image.copy()
    image.close()
    return frame


def orient(ctx: Context) -> None:
    if ctx.from_pyramid:
        return
    ctx.image = imaging.upright(ctx.image)


def to_srgb(ctx: Context) -> None:
    if ctx.from_pyramid:
        return
    ctx.image = imaging.drop_opaque_alpha(imaging.to_srgb(ctx.image))


def rotate_and_flip(ctx: Context) -> None:
    options = ctx.job.options
    if options.rot:
        ctx.image = ctx.image.transpose(ROTATIONS[options.rot])
    for transpose in FLIPS.get(options.flip or "", ()):
        ctx.image = ctx.image.transpose(transpose)


def refine_crop(ctx: Context) -> None:
    """``g_smart``/``g_face``: move the planned (centred) cover crop to where the content
    is, judged from the decoded pixels.  An explicit ``fx``/``fy`` wins."""
    options = ctx.job.options
    if options.gravity not in ("smart", "face") or options.focal is not None:
        return
    if ctx.crop_refined:
        return
    ctx.crop_refined = True
    left, top, right, bottom = ctx.geometry.crop
    region = (right - left, bottom - top)
    if region[0] >= ctx.frame[0] and region[1] >= ctx.frame[1]:
        return  # the whole frame is kept: nothing to choose
    x, y = smartcrop.crop_origin(ctx.image, ctx.frame, region, options.gravity)
    ctx.geometry = replace(ctx.geometry, crop=(x, y, x + region[0], y + region[1]))


def resize(ctx: Context) -> None:
    """Crop and scale in one resample: the crop box is mapped from frame coordinates
    onto the (possibly pyramid- or draft-reduced) image actually decoded."""
    scale_x = ctx.image.width / ctx.frame[0]
    scale_y = ctx.image.height / ctx.frame[1]
    left, top, right, bottom = ctx.geometry.crop
    box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
    size = ctx.geometry.size
    if box == (0, 0, ctx.image.width, ctx.image.height) and size == ctx.image.size:
        return
    resample = RESAMPLERS[ctx.job.options.resample]
    ctx.image = ctx.image.resize(size, resample, box=box, reducing_gap=3.0)


def apply_filters(ctx: Context) -> None:
    """``blur``, ``sharpen``, ``gray``, ``sepia`` on the resized picture (before padding)."""
    options = ctx.job.options
    if options.blur:
        ctx.image = effects.blur(ctx.image, options.blur)
    if options.sharpen:
        ctx.image = effects.sharpen(ctx.image, options.sharpen)
    if options.gray:
        ctx.image = effects.gray(ctx.image)
    if options.sepia:
        ctx.image = effects.sepia(ctx.image)


def pad(ctx: Context) -> None:
    """``contain``: place the picture on a canvas of exactly the requested box."""
    geometry = ctx.geometry
    if geometry.canvas == geometry.size:
        return
    colour = ctx.job.options.bg or _default_background(ctx.job.fmt)
    canvas = Image.new("RGBA", geometry.canvas, colour)
    picture = ctx.image.convert("RGBA")
    canvas.alpha_composite(picture, geometry.offset)
    ctx.image = imaging.drop_opaque_alpha(canvas)


def watermark(ctx: Context) -> None:
    mark = ctx.job.watermark
    if mark is None:
        return
    options = ctx.job.options
    ctx.image = overlay.add_watermark(ctx.image, mark, options.wmpos, options.wmop)


def text(ctx: Context) -> None:
    options = ctx.job.options
    if options.txt is None:
        return
    size = round(options.txtsize * options.dpr) if options.txtsize else None
    ctx.image = overlay.add_text(
        ctx.image, options.txt, size, options.txtcolor, options.txtpos, ctx.job.font, ctx.layers
    )


def flatten(ctx: Context) -> None:
    """Remove transparency where the format has none, or when an opaque ``bg`` asks to."""
    if ctx.image.mode != "RGBA":
        return
    bg = ctx.job.options.bg
    if ctx.job.fmt in ALPHA_FORMATS and (bg is None or bg[3] < 255):
        return
    canvas = Image.new("RGBA", ctx.image.size, (*(bg or WHITE)[:3], 255))
    canvas.alpha_composite(ctx.image)
    ctx.image = canvas.convert("RGB")


def _default_background(fmt: str) -> tuple[int, int, int, int]:
    return (0, 0, 0, 0) if fmt in ALPHA_FORMATS else WHITE


PIPELINE: list[Callable[[Context], None]] = [
    load,
    orient,
    to_srgb,
    rotate_and_flip,
    refine_crop,
    resize,
    apply_filters,
    pad,
    watermark,
    text,
    flatten,
]


def run_pipeline(job: RenderJob) -> Image.Image:
    """The finished picture, before encoding."""
    ctx = prepare(job)
    for step in PIPELINE:
        step(ctx)
    return ctx.image


def run_animation(job: RenderJob) -> Animation:
    """Every frame (up to ``max_frames``) through the same steps, decoded from the
    original; the crop is placed once, on the first frame, so frames stay aligned."""
    ctx = prepare(job)
    check_budget(min(job.record.frames, job.max_frames), ctx.geometry.canvas,
                 job.max_output_pixels)
    result = Animation()
    for frame, duration, loop in source_frames(job.original, job.max_frames):
        ctx.image, ctx.from_pyramid = frame, False
        for step in PIPELINE:
            if step is not load:
                step(ctx)
        result.frames.append(ctx.image)
        result.durations.append(duration)
        result.loop = loop
    return result


def render(job: RenderJob) -> bytes:
    """Encoded output; with ``maxb`` the quality is searched until it fits (or 422)."""
    if is_animated(job.record, job.fmt):
        frames = run_animation(job)

        def encode_at(quality: int) -> bytes:
            return encode_animation(frames, job.fmt, replace(job.encoder, quality=quality))
    else:
        picture = run_pipeline(job)

        def encode_at(quality: int) -> bytes:
            return encode(picture, job.fmt, replace(job.encoder, quality=quality))

    return encode_within(encode_at, job.encoder.quality, job.options.maxb, job.fmt)
