-- Call handling (CAS `config`): each user's current mode and, per mode, what a new call does.
-- A user without a row is `available`; a mode without a forwarding row keeps its default
-- (services::callmode), so only the choices a user made are stored.
CREATE TABLE call_modes (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    mode         TEXT NOT NULL CHECK (mode IN
                     ('available', 'meeting', 'out_of_office', 'extended_absence', 'custom')),
    -- The name the user gave the `custom` mode; kept while another mode is current.
    custom_label TEXT
);

CREATE TABLE call_forwardings (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mode    TEXT NOT NULL CHECK (mode IN
                ('available', 'meeting', 'out_of_office', 'extended_absence', 'custom')),
    action  TEXT NOT NULL CHECK (action IN ('ring_devices', 'forward', 'voicemail')),
    -- As the user typed it (user name, number or SIP URI): it is resolved to a local user
    -- when loaded, so a user created later is found.
    target  TEXT,
    PRIMARY KEY (user_id, mode)
);
