-- The console's sign-in. An admin issues a one-time sign-in link for a person; following it,
-- or pasting an API token, opens a session. Both act through an API token: the principal and
-- every access decision are the token's, so revoking the token, or archiving its volunteer or
-- unit, ends them. Only the SHA-256 of a link's or a session's secret is stored.
CREATE TABLE sign_in_links (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    token_id    TEXT NOT NULL REFERENCES api_tokens (id),
    issued_by   TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    CONSTRAINT sign_in_links_hash_key UNIQUE (secret_hash)
);

CREATE TABLE console_sessions (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    token_id    TEXT NOT NULL REFERENCES api_tokens (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CONSTRAINT console_sessions_hash_key UNIQUE (secret_hash)
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_id);
