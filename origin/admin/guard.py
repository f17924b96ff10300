"""Request-level session handling: the cookie, the CSRF check, the page guard.

The session cookie is HttpOnly (scripts never see it), SameSite=Strict (no other site
can make the browser send it) and Secure when the request came over TLS (Nginx or
another proxy in front says so with ``X-Forwarded-Proto: https``).  Every
state-changing request must also echo the session's CSRF token, in the form field
``csrf_token`` or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from typing import TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from indexer.db import connect
from indexer.errors import Forbidden, Unauthorized
from indexer.keys import SCOPES, ApiKey
from origin.admin.sessions import SESSION_SECONDS, Session, find_session
from origin.services import Services

COOKIE = "pictor_admin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/admin/login"
# For :func:`action` / :func:`reader`: any live session may (log out), whatever its scopes.
ANY_SESSION: str | None = None

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@contextmanager
def writer(request: Request) -> Iterator[sqlite3.Connection]:
    """A connection of its own for a write, so its transaction never interleaves with
    another thread's on the worker's shared connection; SQLite's lock and busy
    timeout queue the writers."""
    with closing(connect(services_of(request).layout.database)) as connection:
        yield connection


async def run_write(request: Request, function: Callable[..., T], *args: object) -> T:
    """Run ``function(connection, *args)`` on a write connection in the thread pool."""

    def call() -> T:
        with writer(request) as connection:
            return function(connection, *args)

    return await run_in_threadpool(call)


def over_tls(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" or request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=over_tls(request),
    )


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    set_cookie(response, request, COOKIE, token, SESSION_SECONDS)


def clear_session_cookie(response: Response, request: Request) -> None:
    set_cookie(response, request, COOKIE, "", 0)


def current_session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    session = find_session(services_of(request).db, token, time.time())
    return session if session is not None and session.may_administer else None


def api_key_of_session(request: Request) -> ApiKey | None:
    """For :func:`origin.auth.require`: the admin UI's scripts call the JSON API with
    the session cookie instead of a bearer key.  The session's key (with its current
    scopes) is returned only when the request also carries the session's CSRF token in
    the ``X-CSRF-Token`` header, which no other site's page can set."""
    session = current_session(request)
    if session is None or not session.csrf_matches(request.headers.get(CSRF_HEADER)):
        return None
    return session.key


def session_of(request: Request) -> Session:
    """The session a guarded handler runs under (set by :func:`page` / :func:`action`)."""
    session: Session = request.state.admin_session
    return session


def page(handler: Handler) -> Handler:
    """Guard a page (GET): without a live session, go to the login form and come back."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        session = current_session(request)
        if session is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(back, safe='')}", status_code=303)
        request.state.admin_session = session
        return await handler(request)

    return guarded


def allowed(session: Session, scope: str | None) -> None:
    """The one scope check of the admin UI: an action needs the scope its ``/api``
    equivalent needs (``admin`` implies every scope), refused like the API refuses it.
    ``None``: any live session may (log out)."""
    if scope is None:
        return
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a programming error, not a client one
    if not session.allows(scope):
        raise Forbidden(f"API key {session.key_name!r} lacks the {scope!r} scope")


def reader(scope: str | None) -> Callable[[Handler], Handler]:
    """Guard a read-only request made by the page's scripts: 401 without a session,
    403 when the session's key lacks ``scope``."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            session = current_session(request)
            if session is None:
                raise Unauthorized("not logged in, or the session has expired")
            allowed(session, scope)
            request.state.admin_session = session
            return await handler(request)

        return guarded

    return decorate


def action(scope: str | None) -> Callable[[Handler], Handler]:
    """Guard a state-changing request: a live session (401), its CSRF token (403) and
    ``scope`` (403, see :func:`allowed`).

    The token is read from the header first, so multipart uploads are not parsed
    before the check; a form field works for plain HTML forms.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            session = current_session(request)
            if session is None:
                raise Unauthorized("not logged in, or the session has expired")
            given = request.headers.get(CSRF_HEADER)
            if given is None and _is_form(request):
                given = _text((await request.form()).get(CSRF_FIELD))
            if not session.csrf_matches(given):
                raise Forbidden("missing or wrong CSRF token; reload the page and try again")
            allowed(session, scope)
            request.state.admin_session = session
            return await handler(request)

        return guarded

    return decorate


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
