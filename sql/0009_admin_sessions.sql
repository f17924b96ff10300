-- Admin UI sessions (origin/admin/sessions.py).  Server-side so that logout and key
-- revocation end a session at once: a session is live only while its API key is not
-- revoked (the lookup joins api_keys), and its scopes are the key's current scopes.
-- Only the SHA-256 of the session token is stored: a copy of the database lets
-- nobody into the admin UI.
CREATE TABLE admin_sessions (
    token_hash  TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    csrf_token  TEXT NOT NULL,                 -- synchronizer token for this session's forms
    key_id      INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  REAL NOT NULL,                 -- unix seconds
    expires_at  REAL NOT NULL                  -- unix seconds; absolute, never extended
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
CREATE INDEX admin_sessions_key ON admin_sessions (key_id);
