"""Log in with an API key (scope ``admin`` or ``write``), log out.

The login form itself is protected against login CSRF (a foreign page logging the
browser into the attacker's account) by a double-submit token: a random value in a
short-lived SameSite=Strict cookie that the form must echo.
"""

from __future__ import annotations

import hmac
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from indexer.errors import Forbidden, Unauthorized
from indexer.keys import verify_key
from origin.admin.guard import (
    ANY_SESSION,
    CSRF_FIELD,
    action,
    clear_session_cookie,
    current_session,
    services_of,
    session_of,
    set_cookie,
    set_session_cookie,
    writer,
)
from origin.admin.rendering import render
from origin.admin.sessions import ADMIN_SCOPES, create_session, end_session

LOGIN_COOKIE = "pictor_login"
LOGIN_COOKIE_SECONDS = 3600
HOME = "/admin"


def safe_next(target: str | None, default: str = HOME) -> str:
    """Only local admin paths: ``next`` must never send the browser to another site."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return default


def login_form(request: Request, *, error: str = "", status_code: int = 200) -> Response:
    """The login page with a fresh double-submit token."""
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "next": safe_next(request.query_params.get("next")), "error": error},
        status_code=status_code,
    )
    set_cookie(response, request, LOGIN_COOKIE, token, LOGIN_COOKIE_SECONDS)
    return response


async def show_login(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return login_form(request)


async def log_in(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = str(form.get(CSRF_FIELD, ""))
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the login form expired or came from another site; reload and try again")
    presented = str(form.get("key", "")).strip()
    key = await run_in_threadpool(verify_key, services_of(request).db, presented)
    if key is None:
        raise Unauthorized("wrong or revoked API key")
    if not key.scopes & ADMIN_SCOPES:
        raise Forbidden(f"key {key.name!r} has neither the admin nor the write scope")

    def start() -> str:
        with writer(request) as connection:
            return create_session(connection, key.id, time.time())

    token = await run_in_threadpool(start)
    response = RedirectResponse(safe_next(str(form.get("next", ""))), status_code=303)
    set_session_cookie(response, request, token)
    set_cookie(response, request, LOGIN_COOKIE, "", 0)
    return response


@action(ANY_SESSION)
async def log_out(request: Request) -> Response:
    session = session_of(request)

    def end() -> None:
        with writer(request) as connection:
            end_session(connection, session.token_hash)

    await run_in_threadpool(end)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response, request)
    return response
