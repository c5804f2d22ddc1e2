-- Voicemail (services::voicemail, CAS `vm` topic). Audio lives in files under
-- `<data_dir>/voicemail/<domain>/<user>/msg-<id>.wav`; a row describes one file.
--
-- Crash protocol (ARCHITECTURE.md "Invariants"): a row is inserted `pending` before its
-- audio is written to `tmp/<id>.part`; the file is fsynced and renamed to `msg-<id>.wav`
-- (directory fsynced) and only then is the row marked `ready`. Deleting marks the row
-- `deleting`, removes the file, then deletes the row. Only `ready` rows are messages;
-- `reconcile` at start-up finishes or undoes whatever a crash interrupted.
CREATE TABLE vm_mailboxes (
    -- `user@domain` (domain lower-cased).
    aor        TEXT PRIMARY KEY,
    -- `salt$hex(sha256(salt ":" pin))`; NULL: the configured default PIN applies.
    pin_hash   TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE vm_messages (
    -- AUTOINCREMENT: ids name files and are shown to clients, so never reused.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The owner, `user@domain`.
    mailbox     TEXT NOT NULL,
    -- Who left it (ANI: a SIP URI, a number, or `user@domain`) and the number called (DNIS).
    caller      TEXT NOT NULL,
    called      TEXT NOT NULL,
    -- Unix milliseconds.
    received_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    subject     TEXT NOT NULL DEFAULT '',
    heard       INTEGER NOT NULL DEFAULT 0,
    -- `new` (inbox) or `saved`.
    folder      TEXT NOT NULL DEFAULT 'new',
    -- `pending` (audio being written), `ready`, `deleting`.
    state       TEXT NOT NULL DEFAULT 'pending',
    -- How it arrived: `call`, `forward`, `reply`, `send`.
    origin      TEXT NOT NULL DEFAULT 'call'
);
CREATE INDEX vm_messages_mailbox ON vm_messages (mailbox, state, folder, id);

-- Default grants: users get every voicemail action but the integrity check (`vm.check`,
-- administrators only; they hold `*`).
DELETE FROM grants WHERE role = 'user' AND action = 'vm.*';
INSERT INTO grants (role, action) VALUES
    ('user', 'vm.read'), ('user', 'vm.play'), ('user', 'vm.download'), ('user', 'vm.forward'),
    ('user', 'vm.reply'), ('user', 'vm.send'), ('user', 'vm.edit'), ('user', 'vm.delete'),
    ('user', 'vm.settings');
