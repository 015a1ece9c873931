-- Consequences of task changes, kept by triggers so that each transition stays one guarded statement:
-- per-project task counters (reading a project, which every submit and claim does, costs one row instead of
-- four index scans over its tasks), and what closing a task entails (its worker's credit, the chained copy).
-- Forward-only: never edit this file once landed; add 0004_... instead.
-- Trigger bodies keep their inner `;` mid-line: migrations are split on `;` at line ends.

ALTER TABLE projects ADD COLUMN tasks_new      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN tasks_assigned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN tasks_failed   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN tasks_closed   INTEGER NOT NULL DEFAULT 0;

UPDATE projects SET
    tasks_new      = (SELECT COUNT(*) FROM tasks t WHERE t.project = projects.id AND t.status = 'new'),
    tasks_assigned = (SELECT COUNT(*) FROM tasks t WHERE t.project = projects.id AND t.status = 'assigned'),
    tasks_failed   = (SELECT COUNT(*) FROM tasks t WHERE t.project = projects.id AND t.status = 'failed'),
    tasks_closed   = (SELECT COUNT(*) FROM tasks t WHERE t.project = projects.id AND t.status = 'closed');

CREATE TRIGGER tasks_counted_on_insert AFTER INSERT ON tasks BEGIN
    UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed') WHERE id = NEW.project; END;

-- A status change within a project (every claim and release) is one UPDATE; a move between projects two.
CREATE TRIGGER tasks_counted_on_status AFTER UPDATE OF status ON tasks
    WHEN OLD.status IS NOT NEW.status AND OLD.project = NEW.project BEGIN
    UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new') - (OLD.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned') - (OLD.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed') - (OLD.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed') - (OLD.status = 'closed') WHERE id = NEW.project; END;

CREATE TRIGGER tasks_counted_on_move AFTER UPDATE OF project ON tasks WHEN OLD.project IS NOT NEW.project BEGIN
    UPDATE projects SET tasks_new = tasks_new - (OLD.status = 'new'), tasks_assigned = tasks_assigned - (OLD.status = 'assigned'), tasks_failed = tasks_failed - (OLD.status = 'failed'), tasks_closed = tasks_closed - (OLD.status = 'closed') WHERE id = OLD.project; UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed') WHERE id = NEW.project; END;

CREATE TRIGGER tasks_counted_on_delete AFTER DELETE ON tasks BEGIN
    UPDATE projects SET tasks_new = tasks_new - (OLD.status = 'new'), tasks_assigned = tasks_assigned - (OLD.status = 'assigned'), tasks_failed = tasks_failed - (OLD.status = 'failed'), tasks_closed = tasks_closed - (OLD.status = 'closed') WHERE id = OLD.project; END;

-- Closing a task credits its assignee and submits a copy into the project's chained project (recipe,
-- priority, hash64, max_retries, max_assign_time, verification_count; a duplicate there is skipped). With a
-- verification quorum the release also credits the other agreeing workers.
CREATE TRIGGER tasks_closed AFTER UPDATE OF status ON tasks WHEN NEW.status = 'closed' AND OLD.status IS NOT 'closed' BEGIN
    UPDATE workers SET closed_task_count = closed_task_count + 1 WHERE id = NEW.assignee; INSERT INTO tasks (project, priority, recipe, hash64, max_retries, max_assign_time, verification_count, created_at, updated_at) SELECT p.chain, NEW.priority, NEW.recipe, NEW.hash64, NEW.max_retries, NEW.max_assign_time, NEW.verification_count, NEW.updated_at, NEW.updated_at FROM projects p WHERE p.id = NEW.project AND p.chain IS NOT NULL ON CONFLICT DO NOTHING; END;
