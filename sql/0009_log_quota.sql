-- A per-worker log quota (docs/tasks.md, "Logs"): `wseq` numbers a worker's rows within a project (NULL for
-- entries without a worker, and for rows written before this migration), so that trimming a worker to its
-- newest N rows in a project is one indexed range delete, and one worker cannot evict the others' entries.
-- Trimming a worker leaves gaps in a project's `seq`, so the project's limit counts rows: `log_counts` holds
-- each project's row count (bucket 0: entries without a project), kept by triggers on every insert and delete
-- (cascades included), and the oldest rows by `seq` go when it is over.
-- Forward-only: never edit this file once landed. Trigger bodies keep their inner `;` mid-line.

ALTER TABLE logs ADD COLUMN wseq INTEGER;
CREATE INDEX logs_by_project_worker_wseq ON logs(project, worker, wseq);

CREATE TABLE log_counts (
    bucket INTEGER PRIMARY KEY,
    rows   INTEGER NOT NULL
);
INSERT INTO log_counts (bucket, rows) SELECT COALESCE(project, 0), COUNT(*) FROM logs GROUP BY COALESCE(project, 0);

CREATE TRIGGER logs_counted_insert AFTER INSERT ON logs BEGIN
    INSERT INTO log_counts (bucket, rows) VALUES (COALESCE(NEW.project, 0), 1) ON CONFLICT (bucket) DO UPDATE SET rows = rows + 1; END;
CREATE TRIGGER logs_counted_delete AFTER DELETE ON logs BEGIN
    UPDATE log_counts SET rows = rows - 1 WHERE bucket = COALESCE(OLD.project, 0); END;
