"""The ASGI application: routes, middleware, lifespan and the one error handler.

Nothing else lives here; each route's logic is in its own module.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from indexer.config import Settings
from indexer.errors import Conflict, PictorError
from origin import auth, delivery, health
from origin.admin.errors import error_page as admin_error_page
from origin.admin.routes import admin_routes
from origin.api import duplicates, images, openapi, search, sign
from origin.middleware import RequestObserver
from origin.services import Services

log = logging.getLogger("pictor.origin")


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.services = Services.create(settings)
        try:
            yield
        finally:
            app.state.services.close()

    routes = [
        Route("/img/{path:path}", delivery.deliver, methods=["GET", "HEAD"]),
        Route("/healthz", health.healthz, methods=["GET", "HEAD"]),
        Route("/readyz", health.readyz, methods=["GET", "HEAD"]),
        Route("/metrics", health.metrics_endpoint, methods=["GET"]),
        Route("/api/status", health.status, methods=["GET"]),
        Route("/api/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/api/images", images.create, methods=["POST"]),
        Route("/api/images", images.index, methods=["GET"]),
        Route("/api/images/{image_id}", images.show, methods=["GET"]),
        Route("/api/images/{image_id}", images.edit, methods=["PATCH"]),
        Route("/api/images/{image_id}", images.remove, methods=["DELETE"]),
        Route("/api/sign", sign.sign, methods=["POST"]),
        Route("/api/images/{image_id}/similar", search.similar, methods=["GET"]),
        Route("/api/search", search.search, methods=["GET"]),
        Route("/api/duplicates", duplicates.clusters, methods=["GET"]),
        Route("/api/duplicates/keep", duplicates.keep, methods=["POST"]),
        Route("/api/duplicates/dismiss", duplicates.not_duplicates, methods=["POST"]),
        Route("/api/{path:path}", auth.preflight, methods=["OPTIONS"]),  # CORS preflight
        *admin_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestObserver), Middleware(auth.ApiCors)],
        exception_handlers={PictorError: pictor_error, Exception: unexpected_error},
    )


async def pictor_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PictorError)
    if (page := admin_error_page(request, error)) is not None:
        return page  # a browser in the admin UI gets a page, not JSON
    if error.status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, error.detail)
    else:
        log.info("%s %s -> %d: %s", request.method, request.url.path, error.status, error.detail)
    body: dict[str, object] = {"error": error.public, "status": error.status}
    if isinstance(error, Conflict):
        body["id"] = error.existing_id
    return JSONResponse(body, status_code=error.status, headers=error.headers)


async def unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error", "status": 500}, status_code=500)
