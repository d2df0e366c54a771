-- A street's notifications are addressed to it (recipient_id is the street's id), so its
-- feed is read through notifications_recipient_idx; the index by street is one write more
-- on every notification and served nothing else.
DROP INDEX notifications_street_idx;
