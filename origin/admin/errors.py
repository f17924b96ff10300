"""Domain errors as admin pages.

``origin.app``'s one error handler asks :func:`error_page` first: a browser navigating
the admin UI gets a readable page (a refused login gets the login form again, with
the reason); scripts (``fetch``) and API clients keep getting the JSON body.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

from indexer.errors import PictorError, Unauthorized, Unavailable
from origin.admin.login import login_form
from origin.admin.rendering import render


def wants_page(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/admin") and "text/html" in accept


def error_page(request: Request, error: PictorError) -> Response | None:
    """An HTML response for a browser in the admin UI, or None to answer in JSON.

    Client mistakes and "an optional part is not running" (503, e.g. semantic search
    without the AI worker) get a page; real server faults stay JSON (and logged)."""
    if not wants_page(request) or (error.status >= 500 and not isinstance(error, Unavailable)):
        return None
    if isinstance(error, Unauthorized) or request.url.path == "/admin/login":
        return login_form(request, error=error.public, status_code=error.status)
    heading = HTTPStatus(error.status).phrase
    return render(
        request,
        "error.html",
        {"status": error.status, "heading": heading, "message": error.public},
        status_code=error.status,
    )
