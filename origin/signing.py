"""URL signatures (DESIGN §3).

``sig = base64url_nopad(HMAC_SHA256(key, "{canonical_options}/{target}"))[:32]`` where
``target`` is ``{id}.{ext}``, or ``{id}`` alone for Accept-negotiated URLs.  Any of the
configured keys may have made the signature (key rotation); comparison is constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_LENGTH = 32


def signed_string(options: str, target: str) -> str:
    return f"{options}/{target}"


def sign(key: str, options: str, target: str) -> str:
    digest = hmac.new(
        key.encode("utf-8"), signed_string(options, target).encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:SIGNATURE_LENGTH]


def verify(keys: Sequence[str], signature: str, options: str, target: str) -> bool:
    """True when any key signs ``options/target`` to ``signature``.

    Every key is tried even after a match, so timing does not reveal which key
    (or whether an early one) matched.
    """
    given = signature.encode("ascii", errors="replace")
    matched = False
    for key in keys:
        expected = sign(key, options, target).encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    return matched


def signed_path(key: str, options: str, target: str) -> str:
    return f"/img/{sign(key, options, target)}/{options}/{target}"
