"""The Image page: preview, metadata, tags, text fields, focal point, URL builder, delete.

Forms post to small action endpoints that answer ``303`` back to the page (so a reload
never re-submits); the focal-point preview and the URL builder are read-only JSON
endpoints the page's script calls while the editor works.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from indexer.errors import BadRequest, NotFound
from indexer.layout import is_image_id
from origin.admin import gateway
from origin.admin.guard import action, over_tls, page, reader, run_write, services_of
from origin.admin.links import focal_crop_urls, preview_url
from origin.admin.login import safe_next
from origin.admin.rendering import render
from origin.admin.urlbuilder import FORMATS, GRAVITIES, build_url
from origin.api.fields import MAX_ALT, MAX_DESCRIPTION, MAX_TAG_LENGTH, MAX_TITLE, normalize_tag
from origin.options import FITS

MAX_TEXT = {"title": MAX_TITLE, "alt": MAX_ALT, "description": MAX_DESCRIPTION}


def image_id_of(request: Request) -> str:
    image_id = str(request.path_params["image_id"])
    if not is_image_id(image_id):
        raise NotFound(f"unknown image id {image_id[:40]!r}")
    return image_id


def back_to(image_id: str, note: str) -> Response:
    return RedirectResponse(f"/admin/images/{image_id}?saved={note}", status_code=303)


@page
async def show(request: Request) -> Response:
    services = services_of(request)
    image_id = image_id_of(request)
    record, tags = await run_in_threadpool(gateway.image_with_tags, services, image_id)
    settings = services.settings
    return render(
        request,
        "image.html",
        {
            "image": record,
            "tags": tags,
            "preview": preview_url(settings, image_id),
            "crops": focal_crop_urls(settings, image_id, record.focal),
            "alt": record.alt or record.title or record.filename or f"Image {image_id}",
            "saved": request.query_params.get("saved", ""),
            "max_text": MAX_TEXT,
            "fits": FITS,
            "gravities": GRAVITIES,
            "formats": FORMATS,
            "near": await run_in_threadpool(gateway.near_duplicates_of, services, image_id),
        },
    )


def text_field(form: FormData, name: str) -> str:
    value = str(form.get(name, "")).strip()
    if len(value) > MAX_TEXT[name]:
        raise BadRequest(f"{name} is longer than {MAX_TEXT[name]} characters")
    return value


@action("write")
async def save_text(request: Request) -> Response:
    image_id = image_id_of(request)
    form = await request.form()
    texts = [text_field(form, name) for name in ("title", "alt", "description")]
    await run_write(request, gateway.update_text, image_id, *texts)
    return back_to(image_id, "text")


def tag_field(form: FormData) -> str:
    tag = normalize_tag(str(form.get("tag", "")))
    if not tag or len(tag) > MAX_TAG_LENGTH or "," in tag:
        raise BadRequest(f"a tag is 1..{MAX_TAG_LENGTH} characters without commas")
    return tag


@action("write")
async def add_tag(request: Request) -> Response:
    image_id = image_id_of(request)
    tag = tag_field(await request.form())
    await run_write(request, gateway.add_tag, image_id, tag)
    return back_to(image_id, "tags")


@action("write")
async def remove_tag(request: Request) -> Response:
    image_id = image_id_of(request)
    tag = tag_field(await request.form())
    await run_write(request, gateway.remove_tag, image_id, tag)
    return back_to(image_id, "tags")


def unit_interval(value: object, name: str) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise BadRequest(f"{name} must be a number between 0 and 1") from None
    if not 0 <= number <= 1:
        raise BadRequest(f"{name} must be between 0 and 1, got {number}")
    return round(number, 4)


@action("write")
async def save_focal(request: Request) -> Response:
    image_id = image_id_of(request)
    form = await request.form()
    focal = (unit_interval(form.get("fx"), "fx"), unit_interval(form.get("fy"), "fy"))
    await run_write(request, gateway.set_focal, services_of(request).layout, image_id, focal)
    return back_to(image_id, "focal")


@reader("write")  # the focal-point editor's preview
async def crops(request: Request) -> Response:
    """Preview crops for a focal point the editor is trying out (nothing is saved)."""
    image_id = image_id_of(request)
    params = request.query_params
    focal = (unit_interval(params.get("fx"), "fx"), unit_interval(params.get("fy"), "fy"))
    return JSONResponse(
        {"crops": focal_crop_urls(services_of(request).settings, image_id, focal)},
        headers={"Cache-Control": "no-store"},
    )


@reader("sign")
async def signed_url(request: Request) -> Response:
    image_id = image_id_of(request)
    built = build_url(services_of(request).settings, image_id, request.query_params)
    scheme = "https" if over_tls(request) else request.url.scheme
    absolute = f"{scheme}://{request.url.netloc}{built.path}"
    return JSONResponse(
        {"url": absolute, "path": built.path, "options": built.options},
        headers={"Cache-Control": "no-store"},
    )


@action("delete")
async def delete(request: Request) -> Response:
    image_id = image_id_of(request)
    target = (await request.form()).get("next")
    await run_write(request, gateway.delete_image, services_of(request).layout, image_id)
    back = safe_next(str(target or ""), default=f"/admin?deleted={image_id}")
    return RedirectResponse(back, status_code=303)
