-- The street's figures kept as history is made, so that reading them costs what the range
-- holds in days and months, not what it holds in demands.
--
-- A change to a demand or its order marks the demand (`demands.figures_mark`, moved in the
-- statement of the change when it writes the demand's row, else by one of its own). The folder takes marked demands, computes their facts afresh, and moves the
-- difference from their facts as last folded (`demand_facts`) into `figure_rollups`: one row per
-- street, local day or month of filing, dimension and group, with the counts and the minutes to
-- accept and to complete as histograms. A read adds the rollups of the whole days and months
-- in its range, the facts of the demands filed in its partial days, and, for demands still
-- marked, the difference between their facts now and as folded — so it is never stale.

CREATE TABLE demand_facts (
    demand_id         TEXT PRIMARY KEY REFERENCES demands (id),
    street_id         TEXT NOT NULL,
    filed_at          TEXT NOT NULL,
    -- The local day (YYYY-MM-DD) and month (YYYY-MM) of filing.
    filed_day         TEXT NOT NULL,
    filed_month       TEXT NOT NULL,
    community_id      TEXT NOT NULL,
    grid_id           TEXT NOT NULL,
    category          TEXT NOT NULL,
    volunteer_id      TEXT,
    unit_id           TEXT,
    dispatched        BIGINT NOT NULL,
    accepted          BIGINT NOT NULL,
    completed         BIGINT NOT NULL,
    on_time           BIGINT NOT NULL,
    rated             BIGINT NOT NULL,
    satisfied         BIGINT NOT NULL,
    repeated          BIGINT NOT NULL,
    escalations       BIGINT NOT NULL,
    accept_minutes    BIGINT,
    complete_minutes  BIGINT
);
CREATE INDEX demand_facts_street_filed_idx ON demand_facts (street_id, filed_at);

-- 0: folded; otherwise moved by every change, so the folder clears only the mark it folded.
-- Every demand already filed starts marked: it is folded once.
ALTER TABLE demands ADD COLUMN figures_mark BIGINT NOT NULL DEFAULT 1;
CREATE INDEX demands_figures_mark_idx ON demands (id) WHERE figures_mark > 0;

CREATE TABLE figure_rollups (
    street_id         TEXT NOT NULL,
    -- 'day' or 'month'; `period` is YYYY-MM-DD or YYYY-MM, local time.
    level             TEXT NOT NULL,
    dim               TEXT NOT NULL,
    period            TEXT NOT NULL,
    group_key         TEXT NOT NULL,
    received          BIGINT NOT NULL,
    dispatched        BIGINT NOT NULL,
    accepted          BIGINT NOT NULL,
    completed         BIGINT NOT NULL,
    on_time           BIGINT NOT NULL,
    rated             BIGINT NOT NULL,
    satisfied         BIGINT NOT NULL,
    repeated          BIGINT NOT NULL,
    escalations       BIGINT NOT NULL,
    -- "minutes:count" pairs by minutes, space-separated.
    accept_minutes    TEXT NOT NULL,
    complete_minutes  TEXT NOT NULL,
    CONSTRAINT figure_rollups_pk PRIMARY KEY (street_id, level, dim, period, group_key)
);

-- A resident's earlier demands of a category: repeats.
CREATE INDEX demands_resident_idx ON demands (street_id, resident_phone, category, created_at);
