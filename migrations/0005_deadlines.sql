-- Deadlines and escalation: per-street (and per-category) dispatch settings, the deadlines an
-- order runs against, and the record of escalations (吹哨报到).

CREATE TABLE dispatch_settings (
    street_id         TEXT NOT NULL REFERENCES streets (id),
    -- A category code, or '' for the street's default.
    category          TEXT NOT NULL,
    -- Dispatch a demand as soon as it is filed.
    auto_dispatch     BIGINT NOT NULL CHECK (auto_dispatch IN (0, 1)),
    -- Candidates offered at once; 1 offers one after another.
    offer_count       BIGINT NOT NULL,
    -- Minutes the offered candidates have to accept before the next ones are offered.
    accept_minutes    BIGINT NOT NULL,
    -- Minutes the assignee has to complete; NULL: by the requested window's end, or the end
    -- of the day the demand was filed (当日必达).
    complete_minutes  BIGINT,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (street_id, category)
);

ALTER TABLE service_orders ADD COLUMN accept_deadline TEXT;
ALTER TABLE service_orders ADD COLUMN complete_deadline TEXT;
ALTER TABLE service_orders ADD COLUMN escalations BIGINT NOT NULL DEFAULT 0;
CREATE INDEX service_orders_accept_deadline_idx ON service_orders (accept_deadline);
CREATE INDEX service_orders_complete_deadline_idx ON service_orders (complete_deadline);

CREATE TABLE escalations (
    id            TEXT PRIMARY KEY,
    street_id     TEXT NOT NULL REFERENCES streets (id),
    demand_id     TEXT NOT NULL REFERENCES demands (id),
    -- NULL when the demand could not be dispatched at all.
    order_id      TEXT REFERENCES service_orders (id),
    reason        TEXT NOT NULL,
    -- Whom the case was escalated to.
    escalated_to  TEXT NOT NULL,
    -- The new deadline set for it.
    deadline      TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX escalations_street_idx ON escalations (street_id, id);
