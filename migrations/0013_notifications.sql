-- Notifications: what someone must hear of, written in the transaction of the event it tells
-- of (the outbox), then fanned out by a worker to the webhook endpoints that subscribe to it.
--
-- A notification is addressed to a street (its staff, its endpoints and the district's) or to
-- one candidate (a volunteer, or a resource and so the unit or volunteer that owns it).
-- `fanned_out_at` stays NULL until a worker has claimed it (compare-and-set), so the worker
-- takes what is left by its state, never by id order: an event that commits late is not
-- skipped.
CREATE TABLE notifications (
    id             TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    street_id      TEXT NOT NULL,
    subject_kind   TEXT NOT NULL CHECK (subject_kind IN ('demand', 'order', 'plugin')),
    subject_id     TEXT NOT NULL,
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('street', 'volunteer', 'resource')),
    recipient_id   TEXT NOT NULL,
    note           TEXT,
    at             TEXT NOT NULL,
    fanned_out_at  TEXT
);
CREATE INDEX notifications_pending_idx ON notifications (id) WHERE fanned_out_at IS NULL;
CREATE INDEX notifications_recipient_idx ON notifications (recipient_kind, recipient_id, id);
CREATE INDEX notifications_street_idx ON notifications (street_id, recipient_kind, id);

-- Where a street, a unit or the district wants to hear of events: a URL, the event types
-- (space-separated; empty for all) and the secret that signs each message. During a
-- rotation the previous secret signs too, until `previous_secret_until`.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    owner_kind            TEXT NOT NULL CHECK (owner_kind IN ('district', 'street', 'unit')),
    owner_id              TEXT,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    event_types           TEXT NOT NULL,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    status                TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason       TEXT,
    created_by            TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner_kind, owner_id);

-- One message to one endpoint: its body as signed and sent, and where it stands. A sender
-- claims a due delivery by moving `next_attempt_at` past its own attempt (a lease): a host
-- that dies mid-attempt leaves it to be claimed again when the lease runs out.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at TEXT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    CONSTRAINT webhook_deliveries_once_key UNIQUE (endpoint_id, notification_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

-- Every attempt at a delivery: what the receiver answered, or why there was no answer.
CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt       BIGINT NOT NULL,
    at            TEXT NOT NULL,
    status_code   BIGINT,
    error         TEXT,
    response      TEXT,
    duration_ms   BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- What a reader marked read in their feed. A reader is a volunteer or a unit (whoever signs
-- in for it), or one staff member's token.
CREATE TABLE notification_reads (
    reader          TEXT NOT NULL,
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    read_at         TEXT NOT NULL,
    CONSTRAINT notification_reads_key UNIQUE (reader, notification_id)
);
