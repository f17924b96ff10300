"""Placeholder on miss (``output.placeholder_budget_ms``; 0 = off).

When a miss is expected to take longer than the budget (a big original, AVIF, many
animation frames), the client gets an answer at once and the real variant is
rendered in the background, so the next request is a hit:

1. the same options already rendered in another format the client can show
   (``jpg``/``png`` always, ``webp`` when the Accept header allows it): the same
   picture, served from disk;
2. else a quick preview from the nearest pyramid level: the same crop, size and
   options, encoded as a fast low-quality JPEG (PNG with transparency).

Placeholders carry ``Cache-Control: no-store`` (no cache may keep them) and
``X-Placeholder``.  A background render that fails is remembered, and the next
request for that variant renders in the foreground so the client sees the real
error (422 for ``maxb``, ...) instead of placeholders forever.

The estimate is a cost model per megapixel decoded and encoded, with constants
measured on the project's 2-core machine (``bench/results/options.md``): decode from
the chosen pyramid level or the original, encode by format, times the frames of
an animation and the ~8 encodes of a ``maxb`` search.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from indexer.pyramid import level_name
from origin.animation import is_animated
from origin.formats import CONTENT_TYPES
from origin.pipeline import PIPELINE, Context, RenderJob, load, prepare
from origin.services import Services
from origin.variants import VariantKey, variant_path

log = logging.getLogger("pictor.placeholder")

# Milliseconds per megapixel (2-core machine, one render thread).
DECODE_MS = {"jpeg": 6.0, "png": 25.0, "webp": 15.0, "gif": 15.0, "avif": 40.0}
DECODE_MS_OTHER = 30.0
ENCODE_MS = {"jpg": 25.0, "png": 120.0, "webp": 125.0, "avif": 185.0, "gif": 60.0}
FACE_MS = 40.0  # Haar cascade on a 360 px copy
MAXB_ENCODES = 8  # a bisection over quality 1..100
PREVIEW_QUALITY = 60
SIBLINGS = ("jpg", "png", "auto.jpg", "auto.png")
REMEMBERED_FAILURES = 1024

Render = Callable[[], bytes | None]

_failed: OrderedDict[Path, str] = OrderedDict()
_running: set[asyncio.Task[None]] = set()


def expected_ms(job: RenderJob) -> float:
    """A rough estimate of the render time of ``job``, in milliseconds."""
    geometry = prepare(job).geometry
    frames = _frames(job)
    encodes = MAXB_ENCODES if job.options.maxb else 1
    encode_ms = geometry.pixels * frames / 1e6 * ENCODE_MS.get(job.fmt, 100.0) * encodes
    face_ms = FACE_MS if job.options.gravity == "face" else 0.0
    return _decode_ms(job, geometry.scale, frames) + encode_ms + face_ms


def _decode_ms(job: RenderJob, scale: float, frames: int) -> float:
    """Decoding the pyramid level the renderer will pick (a JPEG), else the original."""
    record = job.record
    long_edge, short_edge = max(record.width, record.height), min(record.width, record.height)
    levels = [edge for edge in sorted(record.pyramid) if edge >= scale * long_edge]
    if levels and frames == 1:
        level_pixels = levels[0] * levels[0] * short_edge / long_edge
        return level_pixels / 1e6 * DECODE_MS["jpeg"]
    pixels = record.width * record.height * frames
    return pixels / 1e6 * DECODE_MS.get(record.format, DECODE_MS_OTHER)


def _frames(job: RenderJob) -> int:
    return min(job.record.frames, job.max_frames) if is_animated(job.record, job.fmt) else 1


async def early_answer(
    services: Services,
    request: Request,
    job: RenderJob,
    key: VariantKey,
    work: Render,
    headers: dict[str, str],
) -> Response | None:
    """A placeholder now and ``work`` (the miss's render) in the background, or None to
    render in the foreground as usual."""
    target = variant_path(services.layout, key)
    budget = services.settings.output.placeholder_budget_ms
    if not budget or target in _failed or services.renderer.pending >= services.renderer.capacity:
        return None
    if expected_ms(job) <= budget:
        return None
    headers = {**headers, "Cache-Control": "no-store", "X-Cache": "MISS"}
    sibling = ready_sibling(target, key, request.headers.get("accept", ""))
    if sibling is None and (not job.record.pyramid or job.options.maxb):
        return None  # no level to preview from; a preview could break the maxb promise
    _render_later(services, target, work, job.fmt)
    if sibling is not None:
        path, fmt = sibling
        return FileResponse(path, media_type=CONTENT_TYPES[fmt],
                            headers={**headers, "X-Placeholder": "variant"})
    data, fmt = await run_in_threadpool(render_preview, job)
    etag = 'W/"' + hashlib.sha256(data).hexdigest()[:24] + '"'
    return Response(data, media_type=CONTENT_TYPES[fmt],
                    headers={**headers, "ETag": etag, "X-Placeholder": "pyramid"})


def ready_sibling(target: Path, key: VariantKey, accept: str) -> tuple[Path, str] | None:
    """The same options already on disk in a format every browser shows."""
    suffixes = [*SIBLINGS, "webp"] if "image/webp" in accept else list(SIBLINGS)
    for suffix in suffixes:
        path = target.with_name(f"{key.options}.{suffix}")
        if path != target and path.is_file():
            return path, suffix.removeprefix("auto.")
    return None


def render_preview(job: RenderJob) -> tuple[bytes, str]:
    """The variant's geometry and options from a pyramid level, fast: the nearest level
    at or below the needed size (a placeholder may be a little soft), bilinear
    resampling, and a plain JPEG (PNG when transparent) without the extra passes."""
    job = replace(job, options=replace(job.options, resample="bilinear"))
    ctx = prepare(job)
    _load_nearest_level(ctx)
    for step in PIPELINE:
        if step is not load:
            step(ctx)
    buffer = io.BytesIO()
    ctx.image.info = {}  # metadata stripped, as in every variant
    if ctx.image.mode == "RGBA":
        ctx.image.save(buffer, "PNG", compress_level=1)
        return buffer.getvalue(), "png"
    ctx.image.convert("RGB").save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue(), "jpg"


def _load_nearest_level(ctx: Context) -> None:
    record = ctx.job.record
    needed = ctx.geometry.scale * max(record.width, record.height)
    levels = sorted(record.pyramid)
    below = [edge for edge in levels if edge <= needed]
    edge = below[-1] if below else levels[0]
    with Image.open(ctx.job.pyramid_dir / level_name(edge, record.has_alpha)) as level:
        level.load()
        ctx.image = level.copy()
    ctx.from_pyramid = True


def _render_later(services: Services, target: Path, work: Render, fmt: str) -> None:
    task = asyncio.get_running_loop().create_task(_background(services, target, work, fmt))
    _running.add(task)  # the event loop keeps only a weak reference to tasks
    task.add_done_callback(_running.discard)


async def _background(services: Services, target: Path, work: Render, fmt: str) -> None:
    try:
        await services.renderer.run(target, work, fmt)
    except Exception as error:  # the client already has its placeholder: log, remember
        log.warning("background render of %s failed: %s", target.name, error)
        _failed[target] = str(error)
        while len(_failed) > REMEMBERED_FAILURES:
            _failed.popitem(last=False)
    else:
        _failed.pop(target, None)
