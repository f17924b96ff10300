"""Small JSON request bodies (PATCH, sign): size-capped, decoded, or a 400 saying why."""

from __future__ import annotations

import json

from starlette.requests import ClientDisconnect, Request

from indexer.errors import BadRequest, PayloadTooLarge
from origin.api.uploads import limited_receive

MAX_JSON_BYTES = 256 * 1024


async def read_json(request: Request) -> object:
    receive = limited_receive(request.receive, MAX_JSON_BYTES, MAX_JSON_BYTES)
    limited = Request(request.scope, receive)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON body is larger than {MAX_JSON_BYTES} bytes")
    try:
        raw = await limited.body()
    except ClientDisconnect:
        raise BadRequest("the client went away before the body was complete") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
