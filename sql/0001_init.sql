-- Identity: users, groups, API tokens (named and session), activation / password-reset codes.
-- Forward-only: never edit this file once landed; add 0002_... instead.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    username    TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    first_name  TEXT    NOT NULL DEFAULT '',
    last_name   TEXT    NOT NULL DEFAULT '',
    password    TEXT,                              -- argon2id PHC string; NULL: no password login
    active      INTEGER NOT NULL DEFAULT 1,
    admin       INTEGER NOT NULL DEFAULT 0,
    verified    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    last_login  INTEGER
);

CREATE TABLE user_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT    NOT NULL DEFAULT '',
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id    INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE INDEX group_members_by_user ON group_members(user_id);

-- Named API tokens and login sessions share one table; only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('api', 'session')),
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL UNIQUE,
    admin        INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER
);

CREATE INDEX api_tokens_by_user ON api_tokens(user_id, kind);

-- One-time codes for account activation, password reset and email change; only the SHA-256 of the
-- secret is matched. `code` keeps the readable secret of an activation only (admins may read pending
-- activations); `email` holds the new address of a pending email change.
CREATE TABLE account_codes (
    id           INTEGER PRIMARY KEY,
    secret_hash  BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL CHECK (purpose IN ('activation', 'password_reset', 'email_change')),
    code         TEXT,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX account_codes_by_user ON account_codes(user_id, purpose);

CREATE INDEX account_codes_by_expiry ON account_codes(expires_at);
