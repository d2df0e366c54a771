-- WeCom (企业微信) group robots: endpoints of a second channel. A robot is sent a markdown
-- message (not a signed JSON payload) and takes at most 20 messages a minute, so what it is
-- sent is counted, and what would overflow is folded into one summary message.
--
-- `channel` says how an endpoint is spoken to; `grid_id` narrows a street's robot to the
-- notifications about one grid's demands (the grid's own group).
ALTER TABLE webhook_endpoints ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook'
    CHECK (channel IN ('webhook', 'wecom'));
ALTER TABLE webhook_endpoints ADD COLUMN grid_id TEXT REFERENCES grids (id);

-- Every message sent to a robot (one post, which may carry many deliveries folded into a
-- summary): the count of the last minute's is the robot's budget, taken under the endpoint's
-- row lock so that two hosts cannot both spend it.
CREATE TABLE robot_messages (
    id          TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    at          TEXT NOT NULL,
    deliveries  BIGINT NOT NULL
);
CREATE INDEX robot_messages_endpoint_idx ON robot_messages (endpoint_id, at);
