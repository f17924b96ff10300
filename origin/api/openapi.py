"""``GET /api/openapi.json``: the hand-written OpenAPI 3.1 document of the HTTP API.

The source is ``origin/openapi.yaml`` (YAML reads and reviews better than JSON);
it is parsed once per process.  ``tests/test_api_openapi.py`` checks it against the
live server with schemathesis and checks that every ``/api`` route is described.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml
from starlette.requests import Request
from starlette.responses import Response

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.yaml"


@cache
def document_json() -> bytes:
    return json.dumps(yaml.safe_load(DOCUMENT.read_text()), separators=(",", ":")).encode()


async def openapi(request: Request) -> Response:
    """Public, like any API documentation: it holds no secret."""
    return Response(document_json(), media_type="application/json")
