-- The queue: projects with their grants and worker access, workers, tasks with their verification votes, logs.
-- Forward-only: never edit this file once landed; add 0003_... instead.
-- Column names of `tasks`, `workers` and `logs` are the public field names of SPEC §4/§5.

CREATE TABLE projects (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    description     TEXT    NOT NULL DEFAULT '',
    motd            TEXT    NOT NULL DEFAULT '',
    visibility      TEXT    NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private', 'hidden')),
    priority        INTEGER NOT NULL DEFAULT 0,
    paused          INTEGER NOT NULL DEFAULT 0,
    chain           INTEGER REFERENCES projects(id) ON DELETE SET NULL,
    assign_rate     REAL    NOT NULL DEFAULT 0 CHECK (assign_rate >= 0),   -- per second; 0 = unlimited
    submit_rate     REAL    NOT NULL DEFAULT 0 CHECK (submit_rate >= 0),
    version         TEXT    NOT NULL DEFAULT '',
    clone_url       TEXT    NOT NULL DEFAULT '',
    git_repo        TEXT    NOT NULL DEFAULT '',
    secret          TEXT,                                                  -- opaque JSON for workers; NULL = unset
    webhook_secret  TEXT,                                                  -- for a later git receive hook
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX projects_by_chain ON projects(chain) WHERE chain IS NOT NULL;

-- Role bitmask: READ=1 EDIT=2 MANAGE_ACCESS=4 SECRET=8 MAINTENANCE=16. A role of 0 is stored as no row.
CREATE TABLE project_user_grants (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        INTEGER NOT NULL CHECK (role BETWEEN 1 AND 31),
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;

CREATE INDEX project_user_grants_by_user ON project_user_grants(user_id);

CREATE TABLE project_group_grants (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    group_id    INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    role        INTEGER NOT NULL CHECK (role BETWEEN 1 AND 31),
    PRIMARY KEY (project_id, group_id)
) WITHOUT ROWID;

CREATE INDEX project_group_grants_by_group ON project_group_grants(group_id);

-- Machine identities. Only the SHA-256 of the secret is kept.
CREATE TABLE workers (
    id                 INTEGER PRIMARY KEY,
    alias              TEXT    NOT NULL,
    tags               TEXT    NOT NULL DEFAULT '[]',                     -- JSON array of strings
    meta               TEXT    NOT NULL DEFAULT '{}',                     -- JSON object
    secret_hash        BLOB    NOT NULL,
    paused             INTEGER NOT NULL DEFAULT 0,
    closed_task_count  INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

-- A worker's request for ASSIGN and/or SUBMIT on a project; effective once accepted. Rejecting deletes the row.
CREATE TABLE worker_access (
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    worker_id     INTEGER NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    assign        INTEGER NOT NULL DEFAULT 0,
    submit        INTEGER NOT NULL DEFAULT 0,
    accepted      INTEGER NOT NULL DEFAULT 0,
    requested_at  INTEGER NOT NULL,
    decided_at    INTEGER,
    PRIMARY KEY (project_id, worker_id)
) WITHOUT ROWID;

CREATE INDEX worker_access_by_worker ON worker_access(worker_id, accepted);

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY,
    project             INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status              TEXT    NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'assigned', 'closed', 'failed', 'cancelled')),
    priority            INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN -2147483648 AND 2147483647),
    recipe              TEXT    NOT NULL,
    hash64              INTEGER NOT NULL DEFAULT 0,                       -- 0 = no dedupe
    max_retries         INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    retries             INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
    max_assign_time     INTEGER NOT NULL DEFAULT 0 CHECK (max_assign_time >= 0),   -- 0 = 3600
    verification_count  INTEGER NOT NULL DEFAULT 0 CHECK (verification_count >= 0), -- 0 and 1 mean 1
    assignee            INTEGER REFERENCES workers(id) ON DELETE SET NULL,
    assign_time         INTEGER,
    lease_expires_at    INTEGER,
    claims              INTEGER NOT NULL DEFAULT 0,
    progress            INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    result              TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    closed_at           INTEGER
);

-- The claim path: per project, open tasks by priority then id (queries repeat this WHERE literally).
CREATE INDEX tasks_claim ON tasks(project, priority DESC, id) WHERE status IN ('new', 'assigned');

-- Dedupe: one open (not closed, not cancelled) task per project and non-zero hash64.
CREATE UNIQUE INDEX tasks_open_hash ON tasks(project, hash64)
    WHERE hash64 <> 0 AND status NOT IN ('closed', 'cancelled');

-- Project counters, project-wide control actions and status filters.
CREATE INDEX tasks_by_project_status ON tasks(project, status);

-- Assignee filters and heartbeats by worker.
CREATE INDEX tasks_by_assignee ON tasks(assignee) WHERE assignee IS NOT NULL;

-- One verification vote per task and worker; a worker never claims a task it already voted on.
CREATE TABLE task_verifications (
    task        INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    worker      INTEGER NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    value       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (task, worker)
) WITHOUT ROWID;

CREATE INDEX task_verifications_by_worker ON task_verifications(worker);

-- Worker logs. `seq` numbers a project's rows (project NULL is its own bucket) so retention keeps exactly the
-- newest N rows per project with one indexed range delete.
CREATE TABLE logs (
    id         INTEGER PRIMARY KEY,
    level      TEXT    NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    scope      TEXT    NOT NULL DEFAULT '',
    message    TEXT    NOT NULL,
    data       TEXT,                                                      -- JSON text or NULL
    worker     INTEGER REFERENCES workers(id) ON DELETE SET NULL,
    project    INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL
);

CREATE INDEX logs_by_project_seq ON logs(project, seq);
CREATE INDEX logs_by_worker ON logs(worker);
CREATE INDEX logs_by_timestamp ON logs(timestamp);
