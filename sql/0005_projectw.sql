-- Project-W's surface (component `projectw`, docs/projectw.md): a job is a task of the project `project-w`, a
-- runner is a worker; these tables hold only what Project-W has and Conveyor's tasks and workers do not.
-- Forward-only: never edit this file once landed; add 0006_... instead.

-- A worker created as a Project-W runner, and its online session. A runner is online while `online_until`
-- is in the future (each heartbeat pushes it 60 s on); `task` is the job it was given, `in_process` whether it
-- fetched the audio. Kept in the database, not in process memory, so every host sees the same runners.
CREATE TABLE projectw_runners (
    worker           INTEGER PRIMARY KEY REFERENCES workers(id) ON DELETE CASCADE,
    name             TEXT    NOT NULL DEFAULT '',
    version          TEXT    NOT NULL DEFAULT '',
    git_hash         TEXT    NOT NULL DEFAULT '',
    source_code_url  TEXT    NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 100,
    session_hash     BLOB,                                                 -- NULL = offline
    online_until     INTEGER,
    task             INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    in_process       INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);

CREATE INDEX projectw_runners_by_task ON projectw_runners(task) WHERE task IS NOT NULL;

-- Saved job settings (`/jobs/submit_settings`): JSON as the runner receives it; one default per user.
CREATE TABLE projectw_settings (
    id          INTEGER PRIMARY KEY,
    owner       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    settings    TEXT    NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE UNIQUE INDEX projectw_settings_one_default ON projectw_settings(owner) WHERE is_default = 1;

-- An uploaded file, written chunk by chunk as the request body arrives (never held whole in memory); it
-- belongs to a job once the upload completes. An upload without a job after an hour was abandoned (a client
-- that went away mid-way) and is swept by the retention tick.
CREATE TABLE projectw_uploads (
    id          INTEGER PRIMARY KEY,
    owner       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
);

-- The bytes of an upload in chunks of at most 256 KiB, in order.
CREATE TABLE projectw_audio (
    upload  INTEGER NOT NULL REFERENCES projectw_uploads(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (upload, seq)
) WITHOUT ROWID;

-- A job: its task, its owner, its audio (until it finishes) and what Project-W shows of it. Deleting the row
-- (a user's delete) frees its audio and transcripts; the task stays as queue history with no user data in
-- its recipe.
CREATE TABLE projectw_jobs (
    task                    INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    owner                   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    upload                  INTEGER REFERENCES projectw_uploads(id) ON DELETE SET NULL,
    file_name               TEXT    NOT NULL,
    settings                TEXT    NOT NULL,
    created_at              INTEGER NOT NULL,
    finished_at             INTEGER,
    downloaded              INTEGER,                                       -- NULL unless it succeeded
    error_msg               TEXT,
    runner_id               INTEGER,
    runner_name             TEXT,
    runner_version          TEXT,
    runner_git_hash         TEXT,
    runner_source_code_url  TEXT
);

CREATE INDEX projectw_jobs_by_owner ON projectw_jobs(owner, task);
CREATE INDEX projectw_jobs_by_upload ON projectw_jobs(upload) WHERE upload IS NOT NULL;

-- A finished job's transcript, one row per type (`as_txt`, `as_srt`, `as_tsv`, `as_vtt`, `as_json`).
CREATE TABLE projectw_transcripts (
    job      INTEGER NOT NULL REFERENCES projectw_jobs(task) ON DELETE CASCADE,
    kind     TEXT    NOT NULL,
    content  TEXT    NOT NULL,
    PRIMARY KEY (job, kind)
) WITHOUT ROWID;
