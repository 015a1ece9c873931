-- What `GET /metrics` reads (docs/metrics.md), kept as the work happens so that a scrape never counts task rows:
-- the per-project task gauges gain `cancelled`, and per-project counters (submits, claims, lease expiries,
-- releases by result) are bumped by the triggers that already keep the gauges, in the statement that does the
-- work (a claim or a release stays one guarded UPDATE, and still updates its project's row once). Workers
-- remember when they were last seen (authenticated), at most once a minute.
-- Counters start at 0 when this migration runs. Forward-only: never edit this file once landed.
-- Trigger bodies keep their inner `;` mid-line: migrations are split on `;` at line ends.

ALTER TABLE projects ADD COLUMN tasks_cancelled        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_submits        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_claims         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_lease_expiries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_releases_ok    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_releases_fail  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN counted_releases_skip  INTEGER NOT NULL DEFAULT 0;

-- The result (0 ok, 1 fail, 2 skip) of the release that ended the task's last hold; a claim sets it back to
-- NULL. Only releases set it, so a status change from `assigned` that sets it is a release, of that result.
ALTER TABLE tasks ADD COLUMN released_as INTEGER;

-- When the worker last authenticated (written at most once a minute): `conveyor_workers_active`.
ALTER TABLE workers ADD COLUMN last_seen_at INTEGER;
CREATE INDEX workers_by_last_seen ON workers(last_seen_at) WHERE last_seen_at IS NOT NULL;

UPDATE projects SET
    tasks_cancelled = (SELECT COUNT(*) FROM tasks t WHERE t.project = projects.id AND t.status = 'cancelled');

DROP TRIGGER tasks_counted_on_insert;
DROP TRIGGER tasks_counted_on_status;
DROP TRIGGER tasks_counted_on_move;
DROP TRIGGER tasks_counted_on_delete;

-- Every inserted task is a submit (a native or compatible submit, a bulk item, a chained copy, a schedule's).
CREATE TRIGGER tasks_counted_on_insert AFTER INSERT ON tasks BEGIN
    UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed'), tasks_cancelled = tasks_cancelled + (NEW.status = 'cancelled'), counted_submits = counted_submits + 1 WHERE id = NEW.project; END;

-- A claim of a `new` task and every release change the status: their counters ride on the same UPDATE.
CREATE TRIGGER tasks_counted_on_status AFTER UPDATE OF status ON tasks
    WHEN OLD.status IS NOT NEW.status AND OLD.project = NEW.project BEGIN
    UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new') - (OLD.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned') - (OLD.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed') - (OLD.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed') - (OLD.status = 'closed'), tasks_cancelled = tasks_cancelled + (NEW.status = 'cancelled') - (OLD.status = 'cancelled'), counted_claims = counted_claims + NEW.claims - OLD.claims, counted_releases_ok = counted_releases_ok + (OLD.released_as IS NULL AND NEW.released_as IS 0), counted_releases_fail = counted_releases_fail + (OLD.released_as IS NULL AND NEW.released_as IS 1), counted_releases_skip = counted_releases_skip + (OLD.released_as IS NULL AND NEW.released_as IS 2) WHERE id = NEW.project; END;

-- A claim of an `assigned` task (only ever one whose lease expired) keeps the status: it counts here.
CREATE TRIGGER tasks_counted_on_takeover AFTER UPDATE OF claims ON tasks
    WHEN OLD.status = 'assigned' AND NEW.status = 'assigned' BEGIN
    UPDATE projects SET counted_claims = counted_claims + NEW.claims - OLD.claims, counted_lease_expiries = counted_lease_expiries + 1 WHERE id = NEW.project; END;

CREATE TRIGGER tasks_counted_on_move AFTER UPDATE OF project ON tasks WHEN OLD.project IS NOT NEW.project BEGIN
    UPDATE projects SET tasks_new = tasks_new - (OLD.status = 'new'), tasks_assigned = tasks_assigned - (OLD.status = 'assigned'), tasks_failed = tasks_failed - (OLD.status = 'failed'), tasks_closed = tasks_closed - (OLD.status = 'closed'), tasks_cancelled = tasks_cancelled - (OLD.status = 'cancelled') WHERE id = OLD.project; UPDATE projects SET tasks_new = tasks_new + (NEW.status = 'new'), tasks_assigned = tasks_assigned + (NEW.status = 'assigned'), tasks_failed = tasks_failed + (NEW.status = 'failed'), tasks_closed = tasks_closed + (NEW.status = 'closed'), tasks_cancelled = tasks_cancelled + (NEW.status = 'cancelled') WHERE id = NEW.project; END;

CREATE TRIGGER tasks_counted_on_delete AFTER DELETE ON tasks BEGIN
    UPDATE projects SET tasks_new = tasks_new - (OLD.status = 'new'), tasks_assigned = tasks_assigned - (OLD.status = 'assigned'), tasks_failed = tasks_failed - (OLD.status = 'failed'), tasks_closed = tasks_closed - (OLD.status = 'closed'), tasks_cancelled = tasks_cancelled - (OLD.status = 'cancelled') WHERE id = OLD.project; END;
