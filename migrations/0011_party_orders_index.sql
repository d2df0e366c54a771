-- A volunteer's or a unit's orders are found from its offers, a page at a time in order id
-- order: the offers by candidate are indexed by order, so an inbox reads one page of index
-- per identity instead of every offer the candidate was ever made. The index it replaces,
-- by candidate and offer status, served no query.
DROP INDEX order_offers_candidate_idx;
CREATE INDEX order_offers_candidate_idx ON order_offers (candidate_id, order_id);
