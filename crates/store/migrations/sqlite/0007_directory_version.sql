-- A counter bumped by every change to users or domains, so the SIP face re-reads its
-- credential cache only when something changed (instead of every few seconds).
CREATE TABLE directory_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  INTEGER NOT NULL
);
INSERT INTO directory_version (id, v) VALUES (1, 0);

CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN
    UPDATE directory_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN
    UPDATE directory_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER users_del AFTER DELETE ON users BEGIN
    UPDATE directory_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER domains_ins AFTER INSERT ON domains BEGIN
    UPDATE directory_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER domains_del AFTER DELETE ON domains BEGIN
    UPDATE directory_version SET v = v + 1 WHERE id = 1;
END;
