-- Schedules (SPEC §7): cron or interval definitions that submit a task into a project or deliver a payload to
-- an endpoint. Forward-only: never edit this file once landed; add 0005_... instead.
-- Column names of `schedules` are the public field names of the native API.

CREATE TABLE schedules (
    id                  TEXT    PRIMARY KEY,                                   -- a UUID (Seed Scheduler's ids)
    name                TEXT    NOT NULL DEFAULT '',
    owner               INTEGER REFERENCES users(id) ON DELETE CASCADE,        -- NULL = the built-in administrator
    enabled             INTEGER NOT NULL DEFAULT 1,
    cron_definition     TEXT,
    interval_definition TEXT,
    interval_seconds    INTEGER,
    timezone            TEXT,
    project             INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    recipe              TEXT,
    priority            INTEGER,
    endpoint            TEXT,
    payload             TEXT,                                                  -- JSON text
    auth_token          TEXT,
    next_run_at         INTEGER NOT NULL,
    last_run_at         INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CHECK ((cron_definition IS NULL) <> (interval_definition IS NULL)),
    CHECK ((interval_definition IS NULL) = (interval_seconds IS NULL)),
    CHECK ((project IS NULL) <> (endpoint IS NULL))
);

CREATE INDEX schedules_due ON schedules(next_run_at) WHERE enabled = 1;
CREATE INDEX schedules_by_owner ON schedules(owner);
CREATE INDEX schedules_by_project ON schedules(project) WHERE project IS NOT NULL;

-- Webhook deliveries still to make: one row per fired occurrence until it succeeds or becomes a failure.
-- A caller of deliver-due claims due rows (attempts + 1, claimed_until) in one statement, so two callers never
-- send the same attempt; `attempts` is also the claim's generation, which guards the write of its outcome.
CREATE TABLE schedule_deliveries (
    id              INTEGER PRIMARY KEY,
    schedule        TEXT    NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    occurrence_at   INTEGER NOT NULL,
    manual          INTEGER NOT NULL DEFAULT 0,                            -- 1: run_now, not the schedule
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_status     INTEGER,
    last_error      TEXT
);

CREATE INDEX schedule_deliveries_due ON schedule_deliveries(due_at);
CREATE INDEX schedule_deliveries_by_schedule ON schedule_deliveries(schedule);

-- Occurrences that could not be delivered (after every retry) or whose task was refused; `requeue` replays.
CREATE TABLE schedule_failures (
    id              INTEGER PRIMARY KEY,
    schedule        TEXT    NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    occurrence_at   INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    status          INTEGER,                                               -- last HTTP status; NULL = no answer
    error           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE INDEX schedule_failures_by_schedule ON schedule_failures(schedule);
