"""API authentication, scopes and browser CORS: the one place every ``/api`` endpoint uses.

In an endpoint, first thing::

    from origin.auth import require

    async def search(request: Request) -> Response:
        key = await require(request, "read")   # raises 401/403 for you; key is an ApiKey
        ...

``await require(request, scope)`` with ``scope`` one of ``read write delete sign admin``:

- no ``Authorization: Bearer <key>`` header, a malformed one, or an unknown or revoked
  key → ``Unauthorized`` (401, ``WWW-Authenticate: Bearer``);
- the key lacks ``scope`` (``admin`` implies every scope) → ``Forbidden`` (403);
- a browser on another site (an ``Origin`` header that is not this server's own) and
  the key does not list that origin → ``Forbidden`` (403).

It returns the :class:`indexer.keys.ApiKey` (name, scopes, origins), also kept in
``request.state.api_key``.  Which scope each endpoint needs is listed in README.md.

CORS for uploads from a CMS page: :class:`ApiCors` (middleware, installed in
``origin/app.py``) adds ``Access-Control-Allow-Origin`` to every ``/api`` response, errors
included, when some active key allows the request's origin; :func:`preflight` answers
the browser's ``OPTIONS`` preflight (which carries no credentials, so it is granted to
any origin that some active key allows; the real request is then checked against its
own key by ``require``).
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer.db import connect
from indexer.errors import Forbidden, Unauthorized
from indexer.keys import (
    SCOPES,
    ApiKey,
    browser_origins,
    needs_touch,
    normalize_origin,
    touch_key,
    verify_key,
)
from origin.admin.guard import api_key_of_session
from origin.services import Services

log = logging.getLogger("pictor.auth")
API_PREFIX = "/api/"
ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type"
EXPOSED_HEADERS = "Location"
PREFLIGHT_MAX_AGE = "600"


async def require(request: Request, scope: str) -> ApiKey:
    """Authenticate the request's bearer key and check ``scope`` and origin (see module doc)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a programming error, not a client one
    services: Services = request.app.state.services
    key = verify_key(services.db, bearer_token(request.headers.get("authorization")))
    if key is None:
        key = api_key_of_session(request)  # the admin UI: session cookie + CSRF header
    if key is None:
        raise Unauthorized("missing, invalid or revoked API key (Authorization: Bearer <key>)")
    if not key.allows(scope):
        raise Forbidden(f"API key {key.name!r} lacks the {scope!r} scope")
    origin = cross_origin(request.headers)
    if origin is not None and not key.allows_origin(origin):
        raise Forbidden(f"API key {key.name!r} may not be used from origin {origin}")
    if needs_touch(key):
        await run_in_threadpool(_touch, services, key)
    request.state.api_key = key
    return key


def bearer_token(header: str | None) -> str:
    """The key of ``Bearer <key>`` (scheme case-insensitive), or ``""``."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def cross_origin(headers: Headers) -> str | None:
    """The ``Origin`` of a request from another site's page; None for same-origin
    requests and for non-browser clients (which send no ``Origin``)."""
    origin = headers.get("origin")
    if not origin:
        return None
    if urlsplit(origin).netloc.lower() == headers.get("host", "").lower():
        return None
    return origin


def origin_allowed(db: sqlite3.Connection, origin: str) -> bool:
    normalized = normalize_origin(origin, strict=False)
    return bool(normalized) and normalized in browser_origins(db)


async def preflight(request: Request) -> Response:
    """``OPTIONS /api/...``: the CORS preflight of a browser upload from a CMS page."""
    origin = cross_origin(request.headers)
    services: Services = request.app.state.services
    if origin is not None and not origin_allowed(services.db, origin):
        raise Forbidden(f"origin {origin} is not allowed by any API key")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )


class ApiCors:
    """Adds CORS headers to ``/api`` responses for origins some active key allows.

    Pure ASGI (no body buffering), so streamed uploads stay streamed.  It never
    refuses anything itself: refusals are ``require``'s and ``preflight``'s job.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = cross_origin(Headers(scope=scope))
        services: Services | None = getattr(scope["app"].state, "services", None)
        if origin is None or services is None or not origin_allowed(services.db, origin):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
                headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _touch(services: Services, key: ApiKey) -> None:
    """Best effort: a busy database must not fail the request that used the key."""
    try:
        with closing(connect(services.layout.database)) as connection:
            touch_key(connection, key)
    except sqlite3.Error as error:
        log.warning("could not record use of API key %r: %s", key.name, error)
