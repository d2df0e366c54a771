-- What the read side looks up by time and by demand, so that a read costs what it returns,
-- not what the history holds: a street's demands (and every street's, for the district) by
-- when they were filed — the figures and the filing-window filter — and a demand's
-- escalations.
CREATE INDEX demands_street_filed_idx ON demands (street_id, created_at);
CREATE INDEX demands_filed_idx ON demands (created_at);
CREATE INDEX escalations_demand_idx ON escalations (demand_id);
