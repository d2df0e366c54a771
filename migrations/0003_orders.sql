-- Service orders (点单式派单): a demand dispatched to ranked candidates, offered to the best of
-- them, accepted by one, carried out and completed; and the event record of every change.

CREATE TABLE service_orders (
    id                  TEXT PRIMARY KEY,
    demand_id           TEXT NOT NULL REFERENCES demands (id),
    street_id           TEXT NOT NULL REFERENCES streets (id),
    status              TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'in_progress', 'completed', 'cancelled', 'unassigned')),
    -- The rule that ranked the candidates, as recorded at dispatch.
    rule_kind           TEXT NOT NULL,
    plugin_version_id   TEXT REFERENCES plugin_versions (id),
    content_hash        TEXT,
    -- The ranking, best first: [{kind, id, name, score, reason}].
    ranking             TEXT NOT NULL,
    -- How many candidates are offered at once; the next ones are offered when all decline.
    offer_count         BIGINT NOT NULL,
    next_rank           BIGINT NOT NULL,
    assignee_kind       TEXT CHECK (assignee_kind IN ('volunteer', 'resource')),
    assignee_id         TEXT,
    accepted_at         TEXT,
    started_at          TEXT,
    completed_at        TEXT,
    service_minutes     BIGINT,
    completion_note     TEXT,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX service_orders_street_idx ON service_orders (street_id, id);
CREATE INDEX service_orders_demand_idx ON service_orders (demand_id);
CREATE INDEX service_orders_assignee_idx ON service_orders (assignee_id, status);

CREATE TABLE order_offers (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES service_orders (id),
    candidate_kind  TEXT NOT NULL CHECK (candidate_kind IN ('volunteer', 'resource')),
    candidate_id    TEXT NOT NULL,
    rank            BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'declined', 'accepted', 'withdrawn')),
    reason          TEXT,
    offered_at      TEXT NOT NULL,
    responded_at    TEXT,
    CONSTRAINT order_offers_candidate_key UNIQUE (order_id, candidate_kind, candidate_id)
);
CREATE INDEX order_offers_candidate_idx ON order_offers (candidate_id, status);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('demand', 'order')),
    subject_id    TEXT NOT NULL,
    -- The token that acted, or 'system'.
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    note          TEXT,
    at            TEXT NOT NULL
);
CREATE INDEX events_subject_idx ON events (subject_kind, subject_id, id);
