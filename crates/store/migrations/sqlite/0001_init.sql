-- Switchboard schema, version 1 (SQLite).
-- Applied once by src/sqlite/migrate.rs; never edit a released migration, add a new file.

CREATE TABLE domains (
    id   INTEGER PRIMARY KEY,
    -- Host names compare case-insensitively (RFC 3261 §19.1.4).
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    -- The user part is case-sensitive (RFC 3261 §19.1.4), so no NOCASE here.
    name       TEXT NOT NULL,
    -- HA1 = H(user:realm:password); the password itself is never stored.
    ha1_md5    TEXT NOT NULL,
    ha1_sha256 TEXT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE bindings (
    id          INTEGER PRIMARY KEY,
    aor         TEXT NOT NULL,
    contact     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    q           REAL,
    call_id     TEXT NOT NULL,
    cseq        INTEGER NOT NULL,
    instance    TEXT,
    transport   TEXT NOT NULL,
    source      TEXT NOT NULL,
    user_agent  TEXT
);
CREATE INDEX bindings_aor ON bindings (aor);
CREATE INDEX bindings_expires_at ON bindings (expires_at);

CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    call_id       TEXT NOT NULL,
    caller        TEXT NOT NULL,
    callee        TEXT NOT NULL,
    caller_device TEXT,
    callee_device TEXT,
    started_at    INTEGER NOT NULL,
    answered_at   INTEGER,
    ended_at      INTEGER NOT NULL,
    disposition   TEXT NOT NULL,
    status        INTEGER NOT NULL
);
-- Call history is read per user, newest first, from either side of the call.
CREATE INDEX calls_caller ON calls (caller, started_at);
CREATE INDEX calls_callee ON calls (callee, started_at);
