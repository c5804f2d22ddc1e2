-- Message-waiting (RFC 3842) aggregated from every voicemail system of a user.

-- Voicemail systems: our own (`local`, always present) and external ones (an old PBX, a
-- carrier) that report for users through SIP NOTIFY/PUBLISH or the CAS `mwi` topic.
CREATE TABLE mwi_systems (
    name       TEXT PRIMARY KEY,
    -- `local` (ours), `sip` (reports by NOTIFY/PUBLISH) or `cas` (reports on the CAS topic).
    kind       TEXT NOT NULL,
    -- What users see, e.g. `PBX`.
    label      TEXT NOT NULL,
    -- The account (`user@domain`, a local SIP/CAS user) the system authenticates as; it may
    -- report for the users that list this system. NULL for `local`.
    account    TEXT,
    -- What an activate/deactivate command does for this system: `send` (a SIP MESSAGE to
    -- the system account's registered devices, and recorded) or `record` (recorded only).
    activation TEXT NOT NULL DEFAULT 'record'
);
INSERT INTO mwi_systems (name, kind, label, account, activation)
    VALUES ('local', 'local', 'Voicemail', NULL, 'record');
CREATE INDEX mwi_systems_account ON mwi_systems (account);

-- Which systems are a user's (besides `local`, which every user has), their mailbox id
-- there, and the per-(user, system) activation flag.
CREATE TABLE mwi_profiles (
    aor     TEXT NOT NULL,
    system  TEXT NOT NULL REFERENCES mwi_systems(name) ON DELETE CASCADE,
    mailbox TEXT,
    active  INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (aor, system)
);

-- Per-user delivery to SIP devices; NULL means the `[mwi]` configuration default.
CREATE TABLE mwi_users (
    aor                TEXT PRIMARY KEY,
    message_text       INTEGER,
    unsolicited_notify INTEGER
);

-- Counts per (user, system) as last reported (full state, RFC 3842 §5.2).
CREATE TABLE mwi_counts (
    aor        TEXT NOT NULL,
    system     TEXT NOT NULL REFERENCES mwi_systems(name) ON DELETE CASCADE,
    new        INTEGER NOT NULL,
    old        INTEGER NOT NULL,
    urgent_new INTEGER NOT NULL,
    urgent_old INTEGER NOT NULL,
    -- Unix milliseconds.
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (aor, system)
);

-- Supplemental information per message, as reported (RFC 3842 §5.2 message headers).
CREATE TABLE mwi_messages (
    aor     TEXT NOT NULL,
    system  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    msg_id  TEXT NOT NULL,
    -- Unix milliseconds, when known.
    at      INTEGER,
    ani     TEXT,
    dnis    TEXT,
    subject TEXT,
    urgent  INTEGER NOT NULL DEFAULT 0,
    is_new  INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (aor, system, seq),
    FOREIGN KEY (aor, system) REFERENCES mwi_counts(aor, system) ON DELETE CASCADE
);

-- Every `mwi` notice, kept for CAS clients of a user who had none online: pushed and
-- cleared at their next login.
CREATE TABLE mwi_notices (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    aor     TEXT NOT NULL,
    -- Unix milliseconds.
    at      INTEGER NOT NULL,
    -- The event object (JSON).
    event   TEXT NOT NULL,
    pending INTEGER NOT NULL
);
CREATE INDEX mwi_notices_pending ON mwi_notices (aor, id) WHERE pending = 1;

-- Activation commands, as recorded (and whether they were sent to the system).
CREATE TABLE mwi_activations (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    aor    TEXT NOT NULL,
    system TEXT NOT NULL,
    active INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    sent   INTEGER NOT NULL,
    -- Who asked (`user@domain`).
    by     TEXT NOT NULL
);

-- Bumped on any change of systems, profiles or user settings, so a running server notices
-- changes the CLI made (cheap to poll).
CREATE TABLE mwi_config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  INTEGER NOT NULL
);
INSERT INTO mwi_config_version (id, v) VALUES (1, 0);
CREATE TRIGGER mwi_systems_ins AFTER INSERT ON mwi_systems
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_systems_upd AFTER UPDATE ON mwi_systems
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_systems_del AFTER DELETE ON mwi_systems
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_profiles_ins AFTER INSERT ON mwi_profiles
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_profiles_upd AFTER UPDATE ON mwi_profiles
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_profiles_del AFTER DELETE ON mwi_profiles
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_users_ins AFTER INSERT ON mwi_users
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_users_upd AFTER UPDATE ON mwi_users
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER mwi_users_del AFTER DELETE ON mwi_users
    BEGIN UPDATE mwi_config_version SET v = v + 1 WHERE id = 1; END;

-- Users may read their view and switch message-waiting per system; `report` is checked
-- against the system accounts by the service itself.
INSERT OR IGNORE INTO grants (role, action) VALUES
    ('user', 'mwi.activate'), ('user', 'mwi.report');
