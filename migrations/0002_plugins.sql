-- Street matching plugins: immutable versions, the active version of each street, the history
-- of activations (for rollback), and the faults recorded against versions.

CREATE TABLE plugin_versions (
    id                  TEXT PRIMARY KEY,
    street_id           TEXT NOT NULL REFERENCES streets (id),
    -- 1, 2, 3, … within the street.
    number              BIGINT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('rhai', 'wasm')),
    -- SHA-256 of the source bytes, hex.
    content_hash        TEXT NOT NULL,
    -- rhai source text, or the WebAssembly bytes in base64.
    source              TEXT NOT NULL,
    source_bytes        BIGINT NOT NULL,
    config              TEXT NOT NULL,
    contract_version    TEXT NOT NULL,
    note                TEXT,
    status              TEXT NOT NULL CHECK (status IN ('ready', 'quarantined')),
    consecutive_faults  BIGINT NOT NULL,
    total_faults        BIGINT NOT NULL,
    total_calls         BIGINT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    quarantined_at      TEXT,
    CONSTRAINT plugin_versions_street_number_key UNIQUE (street_id, number)
);

CREATE TABLE street_plugins (
    street_id          TEXT PRIMARY KEY REFERENCES streets (id),
    -- NULL: the built-in default rule.
    active_version_id  TEXT REFERENCES plugin_versions (id),
    changed_at         TEXT NOT NULL,
    changed_by         TEXT NOT NULL
);

CREATE TABLE plugin_activations (
    id           TEXT PRIMARY KEY,
    street_id    TEXT NOT NULL REFERENCES streets (id),
    -- NULL: the built-in default rule.
    version_id   TEXT REFERENCES plugin_versions (id),
    action       TEXT NOT NULL CHECK (action IN ('activate', 'rollback', 'deactivate', 'quarantine')),
    at           TEXT NOT NULL,
    by_token     TEXT
);
CREATE INDEX plugin_activations_street_idx ON plugin_activations (street_id, id);

CREATE TABLE plugin_faults (
    id          TEXT PRIMARY KEY,
    version_id  TEXT NOT NULL REFERENCES plugin_versions (id),
    street_id   TEXT NOT NULL REFERENCES streets (id),
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX plugin_faults_version_idx ON plugin_faults (version_id, id);
