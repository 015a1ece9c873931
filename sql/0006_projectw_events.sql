-- Project-W's job events, site banners and e-mail outbox (component `projectw`, docs/projectw.md, "Events,
-- banners, e-mail and retention").
-- Forward-only: never edit this file once landed; add 0007_... instead.
-- Trigger bodies keep their inner `;` mid-line: migrations are split on `;` at line ends.

-- What `/api/jobs/events` streams: one row per change a job's owner can see, written by the triggers below
-- (so no code path can forget one, and no process memory holds them). `id` is the SSE event id a client
-- resumes from; ids only grow: pruning (`store::projectw::prune_events`) never deletes the newest row, so
-- SQLite never hands out an id twice. `created_at` is the database's clock (a trigger has no other).
-- `owner` is no foreign key: a deleted user's `job_deleted` rows are written while the user goes, and pruned.
CREATE TABLE projectw_events (
    id          INTEGER PRIMARY KEY,
    owner       INTEGER NOT NULL,
    job         INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('job_created', 'job_updated', 'job_deleted')),
    created_at  INTEGER NOT NULL
);

CREATE INDEX projectw_events_by_owner ON projectw_events(owner, id);
CREATE INDEX projectw_events_by_time ON projectw_events(created_at);

CREATE TRIGGER projectw_event_created AFTER INSERT ON projectw_jobs BEGIN
    INSERT INTO projectw_events (owner, job, kind, created_at) VALUES (NEW.owner, NEW.task, 'job_created', unixepoch()); END;

-- A user's delete, retention, and the cascades of a deleted user or task.
CREATE TRIGGER projectw_event_deleted AFTER DELETE ON projectw_jobs BEGIN
    INSERT INTO projectw_events (owner, job, kind, created_at) VALUES (OLD.owner, OLD.task, 'job_deleted', unixepoch()); END;

-- The job's own columns a client shows: finished, failed (error_msg), downloaded, who ran it.
CREATE TRIGGER projectw_event_job_updated AFTER UPDATE OF finished_at, error_msg, downloaded, runner_id, runner_name, runner_version, runner_git_hash, runner_source_code_url ON projectw_jobs
    WHEN OLD.finished_at IS NOT NEW.finished_at OR OLD.error_msg IS NOT NEW.error_msg OR OLD.downloaded IS NOT NEW.downloaded OR OLD.runner_id IS NOT NEW.runner_id OR OLD.runner_name IS NOT NEW.runner_name OR OLD.runner_version IS NOT NEW.runner_version OR OLD.runner_git_hash IS NOT NEW.runner_git_hash OR OLD.runner_source_code_url IS NOT NEW.runner_source_code_url BEGIN
    INSERT INTO projectw_events (owner, job, kind, created_at) VALUES (NEW.owner, NEW.task, 'job_updated', unixepoch()); END;

-- The job's task: assigned (to a runner, or to another after a lease ran out), progress, closed, failed,
-- cancelled, requeued. This runs on the hot path of the whole queue (every claim, heartbeat and release), so
-- its WHEN is two comparisons of the row in hand and, only when one differs, one primary-key probe of
-- `projectw_jobs`; other tasks never enter the body.
CREATE TRIGGER projectw_event_task_updated AFTER UPDATE OF status, progress, assignee ON tasks
    WHEN (OLD.status IS NOT NEW.status OR OLD.progress IS NOT NEW.progress OR OLD.assignee IS NOT NEW.assignee) AND EXISTS (SELECT 1 FROM projectw_jobs WHERE task = NEW.id) BEGIN
    INSERT INTO projectw_events (owner, job, kind, created_at) SELECT owner, task, 'job_updated', unixepoch() FROM projectw_jobs WHERE task = NEW.id; END;

-- The runner fetched the job's audio: `runner_assigned` becomes `runner_in_progress` (Project-W sends no
-- event for this step; its clients showed the stale step until the next change).
CREATE TRIGGER projectw_event_in_process AFTER UPDATE OF in_process ON projectw_runners
    WHEN NEW.in_process = 1 AND OLD.in_process = 0 AND NEW.task IS NOT NULL BEGIN
    INSERT INTO projectw_events (owner, job, kind, created_at) SELECT owner, task, 'job_updated', unixepoch() FROM projectw_jobs WHERE task = NEW.task; END;

-- A job's task cancelled by any other path than its owner's abort (an administrator's native `cancel`) ends
-- the job as its owner's abort does: finished, "Job was aborted" (`projectw::ABORTED`), its audio freed. The
-- owner's abort sets the same itself; the WHEN keeps every other task update out of the body.
CREATE TRIGGER projectw_task_cancelled AFTER UPDATE OF status ON tasks
    WHEN NEW.status = 'cancelled' AND OLD.status IS NOT 'cancelled' AND EXISTS (SELECT 1 FROM projectw_jobs WHERE task = NEW.id) BEGIN
    UPDATE projectw_jobs SET finished_at = COALESCE(finished_at, unixepoch()), error_msg = COALESCE(error_msg, 'Job was aborted') WHERE task = NEW.id; DELETE FROM projectw_uploads WHERE id = (SELECT upload FROM projectw_jobs WHERE task = NEW.id); END;

-- Retention (`/api/admins/run-retention`) finds finished jobs by the time they finished.
CREATE INDEX projectw_jobs_by_finished ON projectw_jobs(finished_at) WHERE finished_at IS NOT NULL;

-- Site banners (`/api/admins/add_site_banner`), listed by `/api/about` by urgency, highest first.
CREATE TABLE projectw_banners (
    id          INTEGER PRIMARY KEY,
    html        TEXT    NOT NULL,
    urgency     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Mail waiting for the notification hook (`notify_url`), sent by the tick `/api/admins/send-mail`: a finished
-- job's notice (`job_finished`: the job id and, when it failed, its message, copied when it finished) or an
-- administrator's message to every user (`announcement`: subject and body). A sender claims rows until
-- `claimed_until` and deletes each once the hook was called, so a sender that dies mid-way leaves its rows to
-- the next one.
CREATE TABLE projectw_mail (
    id             INTEGER PRIMARY KEY,
    recipient      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('job_finished', 'announcement')),
    job            INTEGER,
    error_msg      TEXT,
    subject        TEXT,
    body           TEXT,
    created_at     INTEGER NOT NULL,
    claimed_until  INTEGER
);

CREATE INDEX projectw_mail_by_recipient ON projectw_mail(recipient);

-- A job whose settings ask for `email_notification` finished with its runner's result (success or failure):
-- its owner is told, once (`finished_at` is set once). A job its owner aborted ('Job was aborted', the
-- message of `projectw::ABORTED`) is not, as in Project-W, which mails only a runner's result.
CREATE TRIGGER projectw_mail_on_finish AFTER UPDATE OF finished_at ON projectw_jobs
    WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.error_msg IS NOT 'Job was aborted' AND json_extract(NEW.settings, '$.email_notification') = 1 BEGIN
    INSERT INTO projectw_mail (recipient, kind, job, error_msg, created_at) VALUES (NEW.owner, 'job_finished', NEW.task, NEW.error_msg, NEW.finished_at); END;
