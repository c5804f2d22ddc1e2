-- Roles, their grants, and each user's role; plug-in credentials.
CREATE TABLE roles (
    name TEXT PRIMARY KEY
);
-- An action is `topic.action` (e.g. `history.delete`), `topic.*`, or `*`.
CREATE TABLE grants (
    role   TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    action TEXT NOT NULL,
    PRIMARY KEY (role, action)
);
CREATE TABLE user_roles (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles(name)
);
CREATE TABLE plugin_credentials (
    name        TEXT PRIMARY KEY,
    -- SHA-256 of the secret; the secret is shown once when issued.
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

INSERT INTO roles (name) VALUES ('user'), ('admin');
INSERT INTO grants (role, action) VALUES ('admin', '*');
INSERT INTO grants (role, action) VALUES
    ('user', 'session.*'), ('user', 'sub.*'), ('user', 'dir.*'), ('user', 'config.*'),
    ('user', 'history.*'), ('user', 'im.*'), ('user', 'presence.*'), ('user', 'vm.*'),
    ('user', 'mwi.read'), ('user', 'tel.*'), ('user', 'ptt.*');
