-- The personal directory of each user: contacts, distribution lists and speed dials.
-- Everything belongs to a user row and goes with it when the user is removed.

CREATE TABLE contacts (
    -- AUTOINCREMENT: an id a client saw is never reused for somebody else's new contact.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The contact as a JSON object, written and validated by the directory service; the
    -- store only keeps it, so new contact fields need no migration.
    card       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX contacts_owner ON contacts (owner_id);

CREATE TABLE contact_lists (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE contact_list_members (
    list_id    INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    -- The service's key for the member (a personal contact or a system user).
    member     TEXT NOT NULL,
    -- Set for personal contacts, so deleting the contact removes it from every list.
    contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (list_id, member)
);

CREATE TABLE speed_dials (
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key      INTEGER NOT NULL,
    target   TEXT NOT NULL,
    PRIMARY KEY (owner_id, key)
);
