"""Per-request bookkeeping as a pure ASGI middleware: a request id and request metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so that streamed file responses pass through
untouched and nothing is buffered.

Request id: Nginx sends ``X-Request-Id`` (its ``$request_id``, also written to the
access log); without one (embedded mode, direct calls) the origin makes one up.  It is
put in the logging context, so every log line of the request carries it, and returned
in the response's ``X-Request-Id`` header, so a user's report can be matched to the logs.
"""

from __future__ import annotations

import asyncio
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from origin import metrics
from origin.logs import REQUEST_ID

HEADER = b"x-request-id"
CLIENT_CLOSED = 499  # Nginx's status for a request the client abandoned
# Anything else (too long, odd characters) is replaced, so a client cannot forge log lines.
VALID_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
ROUTE_PREFIXES = (("/img/", "image"), ("/api/", "api"), ("/admin", "admin"))
ROUTE_EXACT = {"/healthz": "health", "/readyz": "health", "/metrics": "metrics"}


def route_class(path: str) -> str:
    """A small, fixed label set: the path itself would blow up the metric's cardinality."""
    if path in ROUTE_EXACT:
        return ROUTE_EXACT[path]
    return next((name for prefix, name in ROUTE_PREFIXES if path.startswith(prefix)), "other")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER and VALID_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        REQUEST_ID.set(request_id)  # no reset: the error handler outside us logs with it
        status: int | None = None  # until the response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            status = status or CLIENT_CLOSED  # the client went away first: not our error
            raise
        finally:
            # No response started and no cancellation: the app raised, the client gets 500.
            metrics.REQUESTS.labels(route_class(scope["path"]), str(status or 500)).inc()
