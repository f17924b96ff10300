"""Delivery URL parsing (DESIGN §2).  Pure: no configuration, no I/O.

/img/{sig}/{options}/{id}[.{ext}]   signed
/img/_/{options}/{id}[.{ext}]       unsigned
/img/{preset}/{id}[.{ext}]          preset
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from indexer.errors import BadRequest, Forbidden, NotFound
from indexer.layout import is_image_id
from origin.formats import normalize_extension
from origin.signing import SIGNATURE_LENGTH

PREFIX = "/img/"
UNSIGNED_MARK = "_"
_SIGNATURE = re.compile(rf"^[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}$")

Kind = Literal["signed", "unsigned", "preset"]


@dataclass(frozen=True)
class Target:
    image_id: str
    ext: str | None  # normalised (jpeg → jpg); None = negotiate from Accept
    raw: str  # as written in the URL: what the signature covers

    @property
    def negotiated(self) -> bool:
        return self.ext is None


@dataclass(frozen=True)
class DeliveryPath:
    kind: Kind
    target: Target
    options: str = ""  # as written (signed/unsigned); empty for presets
    signature: str = ""
    preset: str = ""


def parse_target(text: str) -> Target:
    image_id, dot, ext = text.partition(".")
    if not is_image_id(image_id):
        raise NotFound(f"unknown image id {image_id[:40]!r}")
    return Target(image_id, normalize_extension(ext) if dot else None, text)


def parse_path(path: str) -> DeliveryPath:
    """Split a delivery path; raise 400 for a malformed one, 404 for an impossible id."""
    if not path.startswith(PREFIX):
        raise NotFound("not a delivery URL")
    parts = path[len(PREFIX) :].split("/")
    if len(parts) == 2 and all(parts):
        return DeliveryPath("preset", parse_target(parts[1]), preset=parts[0])
    if len(parts) == 3 and all(parts):
        auth, options, target = parts
        if auth == UNSIGNED_MARK:
            return DeliveryPath("unsigned", parse_target(target), options=options)
        if not _SIGNATURE.match(auth):
            raise Forbidden(
                f"malformed signature {auth[:40]!r}: expected {SIGNATURE_LENGTH} "
                "base64url characters, or '_'"
            )
        return DeliveryPath("signed", parse_target(target), options=options, signature=auth)
    raise BadRequest(
        "malformed delivery URL: expected /img/{sig}/{options}/{id}[.ext] "
        "or /img/{preset}/{id}[.ext]"
    )


def with_options(path: DeliveryPath, options: str) -> str:
    """The same URL with another option string (for canonical redirects)."""
    auth = path.signature if path.kind == "signed" else UNSIGNED_MARK
    return f"{PREFIX}{auth}/{options}/{path.target.raw}"
