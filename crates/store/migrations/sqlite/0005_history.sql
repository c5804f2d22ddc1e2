-- Call history marks: one party's note on, or deletion of, a call record. Kept per party
-- because both parties see the same call and each decides alone what to keep; the call
-- record itself is never changed.
CREATE TABLE history_marks (
    call   TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    -- `sip:user@domain`, as in calls.caller and calls.callee.
    party  TEXT NOT NULL,
    note   TEXT,
    hidden INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (call, party)
);
