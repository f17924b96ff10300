"""API keys: create, list, revoke, verify (DESIGN §4).

A key is ``pk_`` followed by 43 URL-safe characters (256 random bits).  Only its
SHA-256 is stored (see ``sql/0002_api_keys.sql`` for why a fast hash is right for
random tokens); the plaintext is returned once by :func:`create_key` and never again.

Scopes: ``read`` (GET endpoints), ``write`` (upload, edit), ``delete``, ``sign``
(``POST /api/sign``) and ``admin``, which implies every other scope.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from indexer.db import transaction
from indexer.errors import BadRequest, NotFound

SCOPES = ("read", "write", "delete", "sign", "admin")
ADMIN = "admin"
KEY_PREFIX = "pk_"
KEY_RANDOM_BYTES = 32
SHOWN_PREFIX_LENGTH = 8  # "pk_" + 5 characters: enough to tell keys apart in a list
MAX_KEY_LENGTH = 128
# Writing last_used_at on every request would turn every read into a write; once a
# minute is precise enough to spot unused keys.
TOUCH_INTERVAL = timedelta(seconds=60)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret: what a request is authenticated as."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    origins: tuple[str, ...]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def allows_origin(self, origin: str) -> bool:
        return normalize_origin(origin, strict=False) in self.origins

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validate scope names (``["read", "write"]`` or ``["read,write"]``)."""
    names = {part.strip() for text in scopes for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise BadRequest(f"unknown scope {unknown[0]!r}: expected some of {', '.join(SCOPES)}")
    if not names:
        raise BadRequest(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return frozenset(names)


def normalize_origin(origin: str, *, strict: bool = True) -> str:
    """``https://CMS.example.com:443/`` → ``https://cms.example.com``: the exact form a
    browser sends in its ``Origin`` header.  Anything else raises ``BadRequest``, or
    gives ``""`` with ``strict=False``."""
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    valid = parts.scheme in ("http", "https") and bool(parts.hostname) and port != -1
    if not valid or parts.query or parts.path not in ("", "/") or parts.username:
        if strict:
            raise BadRequest(f"invalid origin {origin!r}: expected scheme://host[:port]")
        return ""
    default_port = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port and port != default_port else ""
    return f"{parts.scheme}://{parts.hostname}{suffix}"


def create_key(
    connection: sqlite3.Connection,
    name: str,
    scopes: Iterable[str],
    origins: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """Store a new key; return it and its plaintext (shown once, never stored)."""
    if not _NAME.match(name):
        raise BadRequest(f"invalid key name {name!r}: letters, digits and _.@- up to 64")
    granted = parse_scopes(scopes)
    allowed = tuple(dict.fromkeys(normalize_origin(origin) for origin in origins))
    plaintext = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    try:
        with transaction(connection):
            connection.execute(
                "INSERT INTO api_keys (name, key_hash, prefix, scopes, origins)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    name,
                    hash_key(plaintext),
                    plaintext[:SHOWN_PREFIX_LENGTH],
                    " ".join(scope for scope in SCOPES if scope in granted),
                    " ".join(allowed),
                ),
            )
    except sqlite3.IntegrityError:
        raise BadRequest(f"an active key named {name!r} exists; revoke it first") from None
    key = _active_by_name(connection, name)
    assert key is not None
    return key, plaintext


def list_keys(connection: sqlite3.Connection) -> list[ApiKey]:
    rows = connection.execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
    return [key_from_row(row) for row in rows]


def any_key_exists(connection: sqlite3.Connection) -> bool:
    """True once any key was ever created (revoked ones count)."""
    return connection.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None


def revoke_key(connection: sqlite3.Connection, name: str) -> ApiKey:
    with transaction(connection):
        cursor = connection.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (_now(), name),
        )
    if cursor.rowcount == 0:
        raise NotFound(f"no active key named {name!r}")
    row = connection.execute(
        "SELECT * FROM api_keys WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)
    ).fetchone()
    return key_from_row(row)


def verify_key(connection: sqlite3.Connection, presented: str) -> ApiKey | None:
    """The active key whose plaintext is ``presented``, or None.

    The row is found by the SHA-256 of the presented key, so an index lookup's timing
    depends only on a hash the caller cannot steer; the final comparison is constant
    time as well.
    """
    if not presented.startswith(KEY_PREFIX) or len(presented) > MAX_KEY_LENGTH:
        return None
    digest = hash_key(presented)
    row = connection.execute(
        "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (digest,)
    ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    return key_from_row(row)


def needs_touch(key: ApiKey, now: datetime | None = None) -> bool:
    if key.last_used_at is None:
        return True
    last = datetime.strptime(key.last_used_at, _TIMESTAMP).replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - last >= TOUCH_INTERVAL


def touch_key(connection: sqlite3.Connection, key: ApiKey) -> None:
    """Record that ``key`` was used now."""
    with transaction(connection):
        connection.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_now(), key.id))


def browser_origins(connection: sqlite3.Connection) -> frozenset[str]:
    """Every origin some active key allows: what a CORS preflight may be granted for
    (a preflight carries no credentials, so it cannot name its key)."""
    rows = connection.execute(
        "SELECT origins FROM api_keys WHERE revoked_at IS NULL AND origins != ''"
    ).fetchall()
    return frozenset(origin for row in rows for origin in row["origins"].split())


def _active_by_name(connection: sqlite3.Connection, name: str) -> ApiKey | None:
    row = connection.execute(
        "SELECT * FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
    ).fetchone()
    return key_from_row(row) if row else None


def key_from_row(row: sqlite3.Row) -> ApiKey:
    """An ``ApiKey`` from a row carrying the ``api_keys`` columns (also from a join)."""
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=frozenset(row["scopes"].split()),
        origins=tuple(row["origins"].split()),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def _now() -> str:
    return datetime.now(UTC).strftime(_TIMESTAMP)[:-4] + "Z"  # milliseconds, like SQLite's


FIRST_KEY_NAME = "admin"


def ensure_first_key(connection: sqlite3.Connection) -> str | None:
    """On a fresh data directory, create the ``admin`` key and return its plaintext
    (for ``pictor serve`` to show once); None once any key was ever created."""
    if any_key_exists(connection):
        return None
    return create_key(connection, FIRST_KEY_NAME, [ADMIN])[1]
