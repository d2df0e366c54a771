-- What each reader of a feed wants to hear of, and how: at once, or as a daily digest at a
-- local hour. A reader is a volunteer or a unit (whoever signs in for it), or one staff
-- member's token, as for read marks. No row: every event, at once.
CREATE TABLE notification_preferences (
    reader          TEXT PRIMARY KEY,
    event_types     TEXT NOT NULL,
    delivery        TEXT NOT NULL CHECK (delivery IN ('immediate', 'daily_digest')),
    digest_hour     BIGINT NOT NULL CHECK (digest_hour BETWEEN 0 AND 23),
    -- Where the next digest starts: when the reader chose digests, then the end of the last.
    digest_from     TEXT,
    updated_at      TEXT NOT NULL
);

-- A reader's daily digest: how many notifications of each type their feed received in
-- (since, until]. Made once per reader and day (a compare-and-set on `digest_from`).
CREATE TABLE notification_digests (
    id      TEXT PRIMARY KEY,
    reader  TEXT NOT NULL,
    since   TEXT NOT NULL,
    until   TEXT NOT NULL,
    counts  TEXT NOT NULL,
    total   BIGINT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX notification_digests_reader_idx ON notification_digests (reader, id);
