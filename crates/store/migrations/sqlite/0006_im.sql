-- Instant messages (CAS `im` topic and SIP MESSAGE, RFC 3428). Every message is kept: the
-- table is the conversation history of both parties.
CREATE TABLE im_messages (
    -- AUTOINCREMENT: ids are shown to clients (paging with `before`), so never reused.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `user@domain` (domain lower-cased), as on the bus.
    sender           TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- Unix milliseconds.
    sent_at          INTEGER NOT NULL,
    -- Set when the recipient had neither a CAS session nor a registered device: the message
    -- is pushed at their next login (sessions) and next registration (devices); each flag is
    -- cleared by its own delivery, both by reading the conversation.
    pending_sessions INTEGER NOT NULL DEFAULT 0,
    pending_devices  INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds when the recipient marked it read.
    read_at          INTEGER
);
-- A conversation is read from both directions, newest first.
CREATE INDEX im_messages_pair ON im_messages (sender, recipient, id);
CREATE INDEX im_messages_recipient ON im_messages (recipient, id);
CREATE INDEX im_messages_pending_sessions ON im_messages (recipient) WHERE pending_sessions = 1;
CREATE INDEX im_messages_pending_devices ON im_messages (recipient) WHERE pending_devices = 1;
