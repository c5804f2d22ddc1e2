-- Presence (services::presence, CAS `presence`): each user's own settings and their decision
-- about each watcher. Users are `user@domain` strings (domain lower-cased), as on the bus.
-- A user without a row has the defaults: visible, the server's same-domain policy, status
-- automatic, no note.
CREATE TABLE presence_settings (
    aor         TEXT PRIMARY KEY,
    -- 0: nobody but the user sees their presence (they stay in the directory).
    visible     INTEGER NOT NULL DEFAULT 1,
    -- NULL: the server's `[presence] same_domain_default`.
    same_domain TEXT CHECK (same_domain IN ('allow', 'pending')),
    -- The status set by hand; NULL: automatic.
    status      TEXT CHECK (status IN ('available', 'away', 'busy', 'dnd')),
    note        TEXT,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE presence_watchers (
    presentity TEXT NOT NULL,
    watcher    TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('allow', 'deny', 'block', 'pending')),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (presentity, watcher)
);
