-- A demand's figures mark (0010) moves out of the demand's row into a table of marked
-- demands. Clearing a mark rewrote the demand's row, and since the marks' partial index named
-- the column, never as a heap-only update on PostgreSQL: each of the demand's indexes took a
-- new entry for every mark folded. Now a change marks a demand by an upsert of a small row,
-- and the folder clears a mark by deleting it.
--
-- A row here is a demand whose contribution may differ from its facts as folded; `mark` moves
-- with every change, so the folder deletes only the mark it folded.
CREATE TABLE figure_marks (
    demand_id  TEXT PRIMARY KEY REFERENCES demands (id),
    mark       BIGINT NOT NULL
);

INSERT INTO figure_marks (demand_id, mark)
    SELECT id, figures_mark FROM demands WHERE figures_mark > 0;

DROP INDEX demands_figures_mark_idx;
ALTER TABLE demands DROP COLUMN figures_mark;
