-- Project progress: updates from the claiming unit, and the street's evaluation at completion.

ALTER TABLE projects ADD COLUMN evaluation TEXT;
-- 1 to 5.
ALTER TABLE projects ADD COLUMN evaluation_score BIGINT;
ALTER TABLE projects ADD COLUMN completed_at TEXT;

CREATE TABLE project_updates (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    by_token    TEXT NOT NULL,
    note        TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX project_updates_project_idx ON project_updates (project_id, id);
