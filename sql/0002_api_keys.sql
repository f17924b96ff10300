-- API keys (DESIGN §4): the plaintext key is shown once at creation and never stored.
-- key_hash is the hex SHA-256 of the whole key.  A plain fast hash is right here, unlike
-- for passwords: keys are 256-bit random tokens (secrets.token_urlsafe(32)), so there is
-- nothing to brute-force or look up in a dictionary, and a slow KDF would only add
-- latency to every API request.  Lookup is by hash, so timing reveals nothing about
-- the key itself.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    prefix        TEXT NOT NULL,              -- first characters of the key, to recognise it in lists
    scopes        TEXT NOT NULL,              -- space-separated subset of: read write delete sign admin
    origins       TEXT NOT NULL DEFAULT '',   -- space-separated allowed browser origins (CORS)
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at  TEXT,
    revoked_at    TEXT
);
-- A name identifies one active key; a revoked key's name may be reused.
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
