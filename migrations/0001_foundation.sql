-- The foundation schema: streets and their areas, the registry of co-building units and
-- volunteers, the three lists (resources, demands, projects) and API tokens.
--
-- Portable across SQLite and PostgreSQL: identifiers are UUIDv7 text, timestamps are UTC
-- RFC 3339 text with a fixed width (so they sort as text), flags are 0/1 BIGINT, and lists
-- that are only ever read whole are JSON text.

CREATE TABLE streets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    code        TEXT NOT NULL,
    district    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT streets_code_key UNIQUE (code)
);

CREATE TABLE communities (
    id          TEXT PRIMARY KEY,
    street_id   TEXT NOT NULL REFERENCES streets (id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT communities_street_name_key UNIQUE (street_id, name)
);

CREATE TABLE grids (
    id            TEXT PRIMARY KEY,
    street_id     TEXT NOT NULL REFERENCES streets (id),
    community_id  TEXT NOT NULL REFERENCES communities (id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    households    BIGINT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT grids_street_code_key UNIQUE (street_id, code)
);
CREATE INDEX grids_community_idx ON grids (community_id);

-- Categories a street adds to the built-in taxonomy (which lives in code).
CREATE TABLE categories (
    street_id   TEXT NOT NULL REFERENCES streets (id),
    code        TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (street_id, code)
);

CREATE TABLE units (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    contact_name   TEXT NOT NULL,
    contact_phone  TEXT NOT NULL,
    address        TEXT,
    description    TEXT,
    archived_at    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE unit_streets (
    unit_id    TEXT NOT NULL REFERENCES units (id),
    street_id  TEXT NOT NULL REFERENCES streets (id),
    PRIMARY KEY (unit_id, street_id)
);
CREATE INDEX unit_streets_street_idx ON unit_streets (street_id, unit_id);

CREATE TABLE volunteers (
    id               TEXT PRIMARY KEY,
    street_id        TEXT NOT NULL REFERENCES streets (id),
    home_grid_id     TEXT NOT NULL REFERENCES grids (id),
    name             TEXT NOT NULL,
    phone            TEXT NOT NULL,
    skills           TEXT NOT NULL,
    team             TEXT,
    party_member     BIGINT NOT NULL CHECK (party_member IN (0, 1)),
    availability     TEXT NOT NULL,
    max_open_orders  BIGINT NOT NULL,
    active           BIGINT NOT NULL CHECK (active IN (0, 1)),
    archived_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX volunteers_street_idx ON volunteers (street_id, id);

CREATE TABLE resources (
    id                  TEXT PRIMARY KEY,
    owner_unit_id       TEXT REFERENCES units (id),
    owner_volunteer_id  TEXT REFERENCES volunteers (id),
    title               TEXT NOT NULL,
    category            TEXT NOT NULL,
    tags                TEXT NOT NULL,
    description         TEXT,
    capacity            BIGINT NOT NULL,
    capacity_left       BIGINT NOT NULL,
    served_grid_ids     TEXT NOT NULL,
    available_from      TEXT,
    available_until     TEXT,
    status              TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CHECK ((owner_unit_id IS NULL) <> (owner_volunteer_id IS NULL)),
    CHECK (capacity_left >= 0 AND capacity_left <= capacity)
);
CREATE INDEX resources_owner_unit_idx ON resources (owner_unit_id);
CREATE INDEX resources_owner_volunteer_idx ON resources (owner_volunteer_id);

CREATE TABLE resource_streets (
    resource_id  TEXT NOT NULL REFERENCES resources (id),
    street_id    TEXT NOT NULL REFERENCES streets (id),
    PRIMARY KEY (resource_id, street_id)
);
CREATE INDEX resource_streets_street_idx ON resource_streets (street_id, resource_id);

CREATE TABLE demands (
    id                TEXT PRIMARY KEY,
    street_id         TEXT NOT NULL REFERENCES streets (id),
    grid_id           TEXT NOT NULL REFERENCES grids (id),
    category          TEXT NOT NULL,
    tags              TEXT NOT NULL,
    urgency           TEXT NOT NULL,
    channel           TEXT NOT NULL,
    description       TEXT NOT NULL,
    resident_name     TEXT NOT NULL,
    resident_phone    TEXT NOT NULL,
    resident_address  TEXT NOT NULL,
    window_start      TEXT,
    window_end        TEXT,
    status            TEXT NOT NULL,
    filed_by          TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX demands_street_idx ON demands (street_id, id);
CREATE INDEX demands_street_status_idx ON demands (street_id, status, id);

CREATE TABLE projects (
    id                   TEXT PRIMARY KEY,
    street_id            TEXT NOT NULL REFERENCES streets (id),
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    goal                 TEXT NOT NULL,
    budget_fen           BIGINT NOT NULL CHECK (budget_fen >= 0),
    status               TEXT NOT NULL,
    claimed_by_unit_id   TEXT REFERENCES units (id),
    progress_note        TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX projects_street_idx ON projects (street_id, id);

CREATE TABLE project_demands (
    project_id  TEXT NOT NULL REFERENCES projects (id),
    demand_id   TEXT NOT NULL REFERENCES demands (id),
    PRIMARY KEY (project_id, demand_id)
);

CREATE TABLE project_resources (
    project_id   TEXT NOT NULL REFERENCES projects (id),
    resource_id  TEXT NOT NULL REFERENCES resources (id),
    PRIMARY KEY (project_id, resource_id)
);

CREATE TABLE api_tokens (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    token_hash     TEXT NOT NULL,
    role           TEXT NOT NULL,
    street_id      TEXT REFERENCES streets (id),
    unit_id        TEXT REFERENCES units (id),
    volunteer_id   TEXT REFERENCES volunteers (id),
    issued_by      TEXT,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_street_idx ON api_tokens (street_id, id);
