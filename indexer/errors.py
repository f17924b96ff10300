"""Domain errors.  Each carries the HTTP status and a public message; the one
exception handler in :mod:`origin.app` turns them into responses.  ``detail`` is
for the log only and never reaches the client."""

from __future__ import annotations

from typing import ClassVar


class PictorError(Exception):
    status = 500
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, public: str, *, detail: str | None = None) -> None:
        super().__init__(public)
        self.public = public
        self.detail = detail or public


class BadRequest(PictorError):
    status = 400


class Unauthorized(PictorError):
    status = 401
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="pictor"'}


class Forbidden(PictorError):
    status = 403


class NotFound(PictorError):
    status = 404


class Conflict(PictorError):
    status = 409

    def __init__(self, public: str, *, existing_id: str, detail: str | None = None) -> None:
        super().__init__(public, detail=detail)
        self.existing_id = existing_id


class PayloadTooLarge(PictorError):
    status = 413


class UnsupportedMedia(PictorError):
    status = 415


class Unprocessable(PictorError):
    status = 422


class Overloaded(PictorError):
    status = 503

    def __init__(self, public: str, *, retry_after: int = 1) -> None:
        super().__init__(public)
        self.headers = {"Retry-After": str(retry_after)}  # type: ignore[misc]


class Unavailable(PictorError):
    """An optional part is missing or not running (the AI worker): 503, no Retry-After."""

    status = 503
