-- The two triggers that follow a task's closing and its cancellation listen to a column only that transition
-- sets, instead of `status`. SQLite compiles every trigger a statement could fire into the statement when it is
-- prepared, and a trigger whose body writes tables with triggers of their own costs most there: as `UPDATE OF
-- status` triggers, these two were compiled into every claim and every release, which never cancel and only
-- sometimes close. Spin prepares each statement again on every request (docs/spin.md, "What the triggers cost
-- a write"). Closing sets `closed_at` (`store::tasks::CLOSE`, the only statement that closes a task); a cancel
-- now sets `cancelled_at` (`store::tasks::cancel` and `projectw_job_gone`, the only statements that cancel one).
-- Both WHEN clauses are unchanged, so the triggers fire on exactly the changes they fired on before.
-- Forward-only: never edit this file once landed. Trigger bodies keep their inner `;` mid-line.

-- When the task was last cancelled, set by every cancel from this migration on. Not a public field: it exists so
-- that a cancel can be told from a claim.
ALTER TABLE tasks ADD COLUMN cancelled_at INTEGER;

DROP TRIGGER tasks_closed;
CREATE TRIGGER tasks_closed AFTER UPDATE OF closed_at ON tasks WHEN NEW.status = 'closed' AND OLD.status IS NOT 'closed' BEGIN
    UPDATE workers SET closed_task_count = closed_task_count + 1 WHERE id = NEW.assignee; INSERT INTO tasks (project, priority, recipe, hash64, max_retries, max_assign_time, verification_count, created_at, updated_at) SELECT p.chain, NEW.priority, NEW.recipe, NEW.hash64, NEW.max_retries, NEW.max_assign_time, NEW.verification_count, NEW.updated_at, NEW.updated_at FROM projects p WHERE p.id = NEW.project AND p.chain IS NOT NULL ON CONFLICT DO NOTHING; END;

DROP TRIGGER projectw_task_cancelled;
CREATE TRIGGER projectw_task_cancelled AFTER UPDATE OF cancelled_at ON tasks
    WHEN NEW.status = 'cancelled' AND OLD.status IS NOT 'cancelled' AND EXISTS (SELECT 1 FROM projectw_jobs WHERE task = NEW.id) BEGIN
    UPDATE projectw_jobs SET finished_at = COALESCE(finished_at, unixepoch()), error_msg = COALESCE(error_msg, 'Job was aborted') WHERE task = NEW.id; DELETE FROM projectw_uploads WHERE id = (SELECT upload FROM projectw_jobs WHERE task = NEW.id); END;

DROP TRIGGER projectw_job_gone;
CREATE TRIGGER projectw_job_gone AFTER DELETE ON projectw_jobs BEGIN
    UPDATE tasks SET status = 'cancelled', lease_expires_at = NULL, cancelled_at = unixepoch(), updated_at = unixepoch() WHERE id = OLD.task AND status IN ('new', 'assigned'); END;
