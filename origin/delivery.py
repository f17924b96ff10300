"""``GET /img/...``: turn a delivery URL into a file on disk, rendering it on a miss.

Order of checks: URL shape (400/404) → refused kind of URL (403: presets only,
unsigned not allowed) → options (400) → canonical form (308) → signature (403) →
image exists (404) → output size (400) → disk or render.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from indexer.catalog import ImageRecord, get_image
from indexer.config import OutputSettings, SecuritySettings, Settings
from indexer.errors import BadRequest, Forbidden, NotFound
from indexer.layout import DataLayout
from origin import fallback, metrics, placeholder
from origin.cache_writes import keep_variant
from origin.formats import CONTENT_TYPES, EncoderSettings, negotiate
from origin.geometry import plan
from origin.options import Options, parse_options
from origin.overlay import BUNDLED_FONT, watermark_for
from origin.pipeline import RenderJob, render, upright_frame
from origin.services import Services
from origin.signing import verify
from origin.urls import UNSIGNED_MARK, DeliveryPath, parse_path, with_options
from origin.variants import VariantKey, etag_for, render_once, variant_path

CACHE_CONTROL = "public, max-age=31536000, immutable"


async def deliver(request: Request) -> Response:
    services: Services = request.app.state.services
    security = services.settings.security
    check_referer(security, request.headers.get("referer"))
    cors = cors_headers(security, request.headers.get("origin"))
    path = parse_path(request.url.path)
    check_url_kind(security, path)
    options = resolve_options(services, path)
    if path.kind != "preset" and options.canonical != path.options:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(with_options(path, options.canonical) + query, 308)
    verify_signature(security, path, options)
    record = get_image(services.db, path.target.image_id)
    if record is None:
        return fallback.unknown_image(services.settings, path.target.image_id)
    fmt = path.target.ext or negotiate(
        request.headers.get("accept", ""), record.has_alpha, services.settings.output.avif
    )
    key = VariantKey(
        record.id,
        path.signature or UNSIGNED_MARK,
        options.canonical,
        fmt,
        negotiated=path.target.negotiated,
    )
    headers = {"Cache-Control": CACHE_CONTROL, **cors}
    if key.negotiated:  # keep CORS's "Origin": Nginx sends both on hits
        headers["Vary"] = ", ".join(filter(None, (headers.get("Vary"), "Accept")))
    target = variant_path(services.layout, key)
    if (hit := file_response(request, target, fmt, {**headers, "X-Cache": "HIT"})) is not None:
        metrics.CACHE_HITS.inc()
        return hit
    check_output_size(services, record, options)
    metrics.CACHE_MISSES.inc()
    job = render_job(services.settings, services.layout, record, options, fmt)
    return await render_miss(request, services, job, key, target, headers)


async def render_miss(
    request: Request,
    services: Services,
    job: RenderJob,
    key: VariantKey,
    target: Path,
    headers: dict[str, str],
) -> Response:
    """Render (once, however many ask), write the variant, answer with it."""
    work = _miss(services, job, target)
    early = await placeholder.early_answer(services, request, job, key, work, headers)
    if early is not None:
        return early
    data = await services.renderer.run(target, work, job.fmt)
    headers = {**headers, "X-Cache": "MISS"}
    if (written := file_response(request, target, job.fmt, headers)) is not None:
        return written  # the same ETag that later hits get
    if data is None:  # another process rendered it, and it was reclaimed at once
        data = await services.renderer.run(target, partial(render, job), job.fmt)
    assert data is not None  # render() always returns bytes
    etag = '"' + hashlib.sha256(data).hexdigest()[:24] + '"'
    return Response(data, media_type=CONTENT_TYPES[job.fmt], headers={**headers, "ETag": etag})


def resolve_options(services: Services, path: DeliveryPath) -> Options:
    if path.kind == "preset":
        preset = services.presets.get(path.preset)
        if preset is None:
            raise NotFound(f"unknown preset {path.preset[:40]!r}")
        return preset
    return parse_options(path.options)


def check_url_kind(security: SecuritySettings, path: DeliveryPath) -> None:
    """Refuse whole kinds of URL before anything else (no redirect for a refused URL)."""
    if path.kind == "preset":
        return
    if security.presets_only:
        raise Forbidden("only preset URLs are allowed on this server")
    if path.kind == "unsigned" and not security.unsigned_allowed:
        raise Forbidden("unsigned URLs are not allowed: sign the URL")


def verify_signature(security: SecuritySettings, path: DeliveryPath, options: Options) -> None:
    """Signatures cover the canonical options, so this runs after canonicalisation."""
    if path.kind != "signed":
        return
    if not verify(security.signing_keys, path.signature, options.canonical, path.target.raw):
        metrics.SIGNATURE_FAILURES.inc()
        raise Forbidden("invalid signature")


def check_referer(security: SecuritySettings, referer: str | None) -> None:
    """Like Nginx's ``valid_referers none blocked <hosts>``: no Referer is fine."""
    if not security.referers or not referer:
        return
    host = urlsplit(referer).hostname or ""
    if not any(host_matches(host, allowed) for allowed in security.referers):
        raise Forbidden("referer not allowed")


def host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host == pattern[2:] or host.endswith(pattern[1:])
    return host == pattern


def cors_headers(security: SecuritySettings, origin: str | None) -> dict[str, str]:
    """Allow-listed origins get CORS headers; a non-listed Origin is refused (403)."""
    if not security.cors_origins:
        return {}
    if not origin:  # the answer still depends on Origin, as on Nginx's hits
        return {"Vary": "Origin"}
    if origin not in security.cors_origins and "*" not in security.cors_origins:
        raise Forbidden("origin not allowed")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def check_output_size(services: Services, record: ImageRecord, options: Options) -> None:
    geometry = plan(upright_frame(record, options), options, record.focal)
    limit = services.settings.limits.max_output_pixels
    if geometry.pixels > limit:
        width, height = geometry.canvas
        raise BadRequest(f"output of {width}x{height} pixels exceeds the limit of {limit}")


def render_job(
    settings: Settings, layout: DataLayout, record: ImageRecord, options: Options, fmt: str
) -> RenderJob:
    """Everything the pipeline needs to render one variant (also used by tests and bench)."""
    output = settings.output
    return RenderJob(
        record=record,
        original=layout.original(record.id),
        pyramid_dir=layout.pyramid_dir(record.id),
        options=options,
        fmt=fmt,
        encoder=EncoderSettings(
            quality_for(output, options), output.avif_speed, output.webp_method, output.avif_codec
        ),
        watermark=watermark_for(settings.watermarks, options.wm),
        font=output.text_font or BUNDLED_FONT,
        max_frames=settings.limits.max_frames,
        max_output_pixels=settings.limits.max_output_pixels,
    )


def quality_for(output: OutputSettings, options: Options) -> int:
    levels = {
        "low": output.quality_low,
        "medium": output.quality_medium,
        "high": output.quality_high,
    }
    if options.quality is None:
        return output.quality_default
    if isinstance(options.quality, str):
        return levels[options.quality]
    return options.quality


def _miss(services: Services, job: RenderJob, target: Path) -> partial[bytes | None]:
    keep = keep_variant(services.settings, services.layout)
    return partial(render_once, services.layout, target, partial(render, job), keep, job.original)


def file_response(
    request: Request, path: Path, fmt: str, headers: dict[str, str]
) -> Response | None:
    """The variant on disk as a response, or None when there is no such file (any more:
    the janitor or a purge may remove it at any moment)."""
    try:
        etag = etag_for(path.stat())
    except FileNotFoundError:
        return None
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={**headers, "ETag": etag})
    return FileResponse(path, media_type=CONTENT_TYPES[fmt], headers={**headers, "ETag": etag})
