-- The candidate pool: what matching needs to know of each volunteer's and resource's record
-- (orders open and done, minutes served, last order, rating), kept up to date by the order
-- transitions instead of being aggregated from every order at each dispatch; and two
-- counters per street that every change to its candidates moves, so a host keeps the pool in
-- memory and knows, with one read, whether its copy is current.

-- Volunteers, resources, grids and their names; moved by registry writes.
ALTER TABLE streets ADD COLUMN registry_version BIGINT NOT NULL DEFAULT 0;
-- Orders open and done, ratings and capacity left; moved by order transitions.
ALTER TABLE streets ADD COLUMN load_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE candidate_loads (
    street_id         TEXT NOT NULL REFERENCES streets (id),
    -- A volunteer or a resource.
    candidate_id      TEXT NOT NULL,
    open_orders       BIGINT NOT NULL,
    completed_orders  BIGINT NOT NULL,
    service_minutes   BIGINT NOT NULL,
    last_order_at     TEXT,
    average_rating    DOUBLE PRECISION,
    PRIMARY KEY (street_id, candidate_id)
);

INSERT INTO candidate_loads (street_id, candidate_id, open_orders, completed_orders, service_minutes, last_order_at, average_rating)
SELECT street_id, assignee_id,
       SUM(CASE WHEN status IN ('accepted', 'in_progress') THEN 1 ELSE 0 END),
       SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END),
       COALESCE(SUM(service_minutes), 0),
       MAX(accepted_at),
       AVG(rating)
FROM service_orders WHERE assignee_id IS NOT NULL GROUP BY street_id, assignee_id;
