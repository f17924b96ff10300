"""Server-side admin sessions in SQLite (table ``admin_sessions``, sql/0009).

Why server-side rather than signed cookies: logout and key revocation must end a
session at once (a signed cookie stays valid until it expires unless the server keeps
a deny-list, which is server-side state anyway), and there is no extra secret to
generate, share between Hypercorn workers and rotate.  One primary-key lookup per
admin request costs nothing next to rendering a page.

A session lives while its API key is not revoked; its scopes are the key's current
scopes.  The cookie carries a random 256-bit token; the table stores only its SHA-256, so a
leaked database copy opens no session.  Each session has its own random CSRF token
(the synchronizer token every state-changing form and fetch must echo back).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from indexer.db import transaction
from indexer.keys import ApiKey, key_from_row

SESSION_SECONDS = 12 * 3600
ADMIN_SCOPES = frozenset({"admin", "write"})
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Session:
    token_hash: str
    csrf_token: str
    key: ApiKey  # as it is now, not as it was at login
    expires_at: float

    @property
    def key_name(self) -> str:
        return self.key.name

    @property
    def may_administer(self) -> bool:
        """The key still has a scope that opens the admin UI."""
        return bool(self.key.scopes & ADMIN_SCOPES)

    def allows(self, scope: str) -> bool:
        """The key has ``scope`` now (``admin`` implies every scope); pages ask this to
        hide the controls the session may not use."""
        return self.key.allows(scope)

    def csrf_matches(self, given: str | None) -> bool:
        """Constant-time check of a submitted CSRF token."""
        if not given:
            return False
        return hmac.compare_digest(self.csrf_token.encode(), given.encode("utf-8", "replace"))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_session(
    connection: sqlite3.Connection, key_id: int, now: float, lifetime: float = SESSION_SECONDS
) -> str:
    """Start a session for an API key; return the cookie token (never stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(connection):
        # Expired rows are swept here, on the rare login, rather than on every request.
        connection.execute("DELETE FROM admin_sessions WHERE expires_at <= ?", (now,))
        connection.execute(
            "INSERT INTO admin_sessions (token_hash, csrf_token, key_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), secrets.token_urlsafe(TOKEN_BYTES), key_id, now, now + lifetime),
        )
    return token


def find_session(connection: sqlite3.Connection, token: str, now: float) -> Session | None:
    """The live session for a cookie token, or None (unknown, expired or malformed)."""
    if not token or len(token) > 200:
        return None
    row = connection.execute(
        "SELECT s.token_hash, s.csrf_token, s.expires_at, k.id, k.name, k.prefix, k.scopes,"
        " k.origins, k.created_at, k.last_used_at, k.revoked_at"
        " FROM admin_sessions AS s JOIN api_keys AS k ON k.id = s.key_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
        (hash_token(token), now),
    ).fetchone()
    if row is None:
        return None
    return Session(row["token_hash"], row["csrf_token"], key_from_row(row), row["expires_at"])


def end_session(connection: sqlite3.Connection, token_hash: str) -> None:
    with transaction(connection):
        connection.execute("DELETE FROM admin_sessions WHERE token_hash = ?", (token_hash,))
