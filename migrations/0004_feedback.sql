-- Feedback on completed orders: the resident's rating and comment, one-time links that let a
-- resident rate without an account, points for the service given, and flagged demands.

ALTER TABLE service_orders ADD COLUMN rating BIGINT;
ALTER TABLE service_orders ADD COLUMN rating_comment TEXT;
ALTER TABLE service_orders ADD COLUMN rated_at TEXT;
-- The token that entered the rating, or 'resident-link'.
ALTER TABLE service_orders ADD COLUMN rated_by TEXT;
-- Points earned by completing the order (one per hour of service by default).
ALTER TABLE service_orders ADD COLUMN points DOUBLE PRECISION;

-- Set when the resident rated the service 2 or less: the street looks at it again.
ALTER TABLE demands ADD COLUMN flagged BIGINT NOT NULL DEFAULT 0;

CREATE TABLE feedback_links (
    token_hash  TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES service_orders (id),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX feedback_links_order_idx ON feedback_links (order_id);
