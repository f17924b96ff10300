"""The Upload page.  Its script sends each file to ``POST /api/images`` on its own
(a few in parallel), with the session cookie and CSRF header standing in for an API
key, so each file shows its own progress and result: added, duplicate (409 names the
existing id), near-duplicate (the 201 lists them), or rejected with the reason."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from origin.admin.guard import page, services_of
from origin.admin.rendering import render


@page
async def show(request: Request) -> Response:
    limit = services_of(request).settings.limits.max_upload_bytes
    return render(request, "upload.html", {"max_bytes": limit})
