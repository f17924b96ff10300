"""Reading an upload from a request, never more than ``limits.max_upload_bytes``.

Two shapes (DESIGN §6): ``multipart/form-data`` with a ``file`` part and optional
fields, or the image itself as the raw body (then without fields: set them with a
PATCH).  Fields never travel in the query string, where a long description would
overflow the request line limits of Hypercorn and Nginx.

The body is streamed and counted; the moment it passes the limit the request fails
with 413, before the rest is read (Nginx enforces the same limit in front, but the
origin must not rely on it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from indexer.errors import BadRequest, PayloadTooLarge
from origin.api.fields import ImageFields, parse_form_fields

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"title", "alt", "description", "tags", "focal"})
MAX_FORM_FIELDS = len(TEXT_FIELDS) + 1
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_SLACK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ReceivedUpload:
    data: bytes
    filename: str
    fields: ImageFields


async def receive_upload(request: Request, max_bytes: int) -> ReceivedUpload:
    content_type = request.headers.get("content-type", "")
    multipart = content_type.lower().startswith("multipart/form-data")
    budget = max_bytes + (MULTIPART_SLACK_BYTES if multipart else 0)
    _check_declared_length(request, budget, max_bytes)
    if request.query_params:
        name = next(iter(request.query_params))
        raise BadRequest(f"unknown query parameter {name[:40]!r}: send fields as form fields")
    limited = Request(request.scope, limited_receive(request.receive, budget, max_bytes))
    try:
        if multipart:
            return await _from_form(limited, max_bytes)
        data = await _raw_body(limited)
    except ClientDisconnect:
        raise BadRequest("the client went away before the upload was complete") from None
    _check_size(len(data), max_bytes)
    return ReceivedUpload(data, "", ImageFields())


async def _raw_body(request: Request) -> bytes:
    # BytesIO grows its buffer in place and ``getvalue()`` hands that very buffer out
    # (CPython shares it rather than copying), so the body is held once, not twice
    # as with ``bytes(bytearray)`` or ``b"".join(chunks)``.
    buffer = io.BytesIO()
    async for chunk in request.stream():
        buffer.write(chunk)
    return buffer.getvalue()


def limited_receive(receive: Receive, budget: int, max_bytes: int) -> Receive:
    """``receive`` that raises 413 once more than ``budget`` body bytes arrived."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > budget:
                raise PayloadTooLarge(f"upload is larger than {max_bytes} bytes")
        return message

    return wrapped


async def _from_form(request: Request, max_bytes: int) -> ReceivedUpload:
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except HTTPException as error:  # python-multipart's complaints, e.g. a bad boundary
        raise BadRequest(f"malformed multipart body: {error.detail}") from None
    try:
        unknown = sorted(set(form.keys()) - TEXT_FIELDS - {FILE_FIELD})
        if unknown:
            raise BadRequest(f"unknown form field {unknown[0]!r}")
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise BadRequest(f"multipart upload needs a file in the field {FILE_FIELD!r}")
        texts = {name: value for name, value in form.items() if isinstance(value, str)}
        if set(texts) != set(form.keys()) - {FILE_FIELD}:
            raise BadRequest("only the 'file' field may be a file")
        data = await upload.read()
        _check_size(len(data), max_bytes)
        return ReceivedUpload(data, upload.filename or "", parse_form_fields(texts))
    finally:
        await form.close()


def _check_declared_length(request: Request, budget: int, max_bytes: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > budget:
        raise PayloadTooLarge(f"upload is larger than {max_bytes} bytes")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadTooLarge(f"upload is larger than {max_bytes} bytes")
