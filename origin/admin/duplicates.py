"""The Duplicates page: clusters of near-duplicates side by side, the suggested keeper
first; keep one (merging tags and texts into it, deleting the rest), delete a single
copy, or say "not duplicates" (remembered, never proposed again)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from indexer.errors import BadRequest
from indexer.layout import is_image_id
from origin.admin import gateway
from origin.admin.guard import action, page, run_write, services_of
from origin.admin.links import thumbnail_url
from origin.admin.rendering import render

PAGE = "/admin/duplicates"
MAX_MEMBERS = 200


@page
async def show(request: Request) -> Response:
    services = services_of(request)
    found = await run_in_threadpool(gateway.clusters, services)
    thumbs = {
        member.id: thumbnail_url(services.settings, member.id)
        for cluster in found
        for member in cluster.members
    }
    return render(
        request,
        "duplicates.html",
        {"clusters": found, "thumbs": thumbs, "done": request.query_params.get("done", "")},
    )


def member_ids(form: FormData) -> list[str]:
    ids = [str(value) for value in form.getlist("ids")]
    if not 2 <= len(ids) <= MAX_MEMBERS or not all(is_image_id(i) for i in ids):
        raise BadRequest("ids: the cluster's image ids (2 or more) are required")
    return ids


@action("delete")  # as POST /api/duplicates/keep: it deletes the others
async def keep(request: Request) -> Response:
    form = await request.form()
    ids = member_ids(form)
    keeper = str(form.get("keep", ""))
    if keeper not in ids:
        raise BadRequest("keep: choose one image of the cluster to keep")
    others = [image_id for image_id in ids if image_id != keeper]
    layout = services_of(request).layout
    await run_write(request, gateway.keep_one_of, layout, keeper, others)
    return RedirectResponse(f"{PAGE}?done=kept", status_code=303)


@action("write")
async def dismiss(request: Request) -> Response:
    ids = member_ids(await request.form())
    await run_write(request, gateway.not_duplicates, ids)
    return RedirectResponse(f"{PAGE}?done=dismissed", status_code=303)
