"""``POST /api/sign``: a ready-to-use delivery URL for a CMS (scope ``sign``).

Body ``{"options": "w_800,fit_cover", "id": "<image id>", "ext": "webp"}`` (``ext``
optional: without it the format follows the browser's ``Accept`` header).  The options
are canonicalised before signing, so the URL never needs a redirect.  In unsigned mode
(no signing key configured) the answer is the unsigned URL, with ``signed: false``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from indexer.catalog import image_exists
from indexer.errors import BadRequest, Forbidden, NotFound
from indexer.layout import is_image_id
from origin.api.bodies import read_json
from origin.api.fields import describe
from origin.api.present import delivery_path, public_base
from origin.auth import require
from origin.formats import normalize_extension
from origin.options import parse_options
from origin.services import Services


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    options: str = Field(min_length=1, max_length=2000)
    id: str
    ext: str | None = None


async def sign(request: Request) -> Response:
    await require(request, "sign")
    services: Services = request.app.state.services
    wanted = _parse(await read_json(request))
    if not is_image_id(wanted.id):
        raise BadRequest(f"invalid id {wanted.id[:40]!r}: expected 20 lowercase hex digits")
    if not image_exists(services.db, wanted.id):
        raise NotFound(f"unknown image id {wanted.id}")
    options = parse_options(wanted.options).canonical
    target = f"{wanted.id}.{normalize_extension(wanted.ext)}" if wanted.ext else wanted.id
    path = delivery_path(services, options, target)
    if path is None:
        raise Forbidden("only preset URLs are allowed on this server (security.presets_only)")
    signed = bool(services.settings.security.signing_keys)
    return JSONResponse({"url": public_base(request) + path, "path": path, "signed": signed})


def _parse(body: object) -> SignRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return SignRequest.model_validate(body)
    except ValidationError as error:
        raise BadRequest(describe(error)) from None
