-- caforge schema v1 (SQLite). Times are Unix seconds (i64); serials are upper-case hex.
-- Key material never lives here: CAs store a key reference URI only.

CREATE TABLE cas (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    parent_id        INTEGER REFERENCES cas(id),
    key_type         TEXT    NOT NULL,
    key_ref          TEXT    NOT NULL,
    sm2_id           TEXT    NOT NULL,
    key_id           TEXT    NOT NULL,          -- hex SubjectKeyIdentifier
    subject          TEXT    NOT NULL,
    serial           TEXT    NOT NULL,
    not_before       INTEGER NOT NULL,
    not_after        INTEGER NOT NULL,
    path_len         INTEGER,
    name_constraints TEXT    NOT NULL DEFAULT '{"permitted_dns":[],"excluded_dns":[]}',
    cert_der         BLOB    NOT NULL,
    created_at       INTEGER NOT NULL
);

-- Every serial is reserved here, durably, before anything is signed with it. A crash
-- between reservation and commit leaves a 'reserved' row and nothing else.
CREATE TABLE serials (
    issuer_key_id TEXT    NOT NULL,
    serial        TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('reserved', 'used')),
    reserved_at   INTEGER NOT NULL,
    PRIMARY KEY (issuer_key_id, serial)
);

CREATE TABLE certificates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_ca_id INTEGER NOT NULL REFERENCES cas(id),
    serial       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    sans         TEXT    NOT NULL,              -- JSON array of SANs
    profile      TEXT    NOT NULL,              -- tls-server, …, or 'ca'
    key_type     TEXT    NOT NULL,
    not_before   INTEGER NOT NULL,
    not_after    INTEGER NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'valid',
    fingerprint  TEXT    NOT NULL,              -- hex SHA-256 of the DER
    der          BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (issuer_ca_id, serial)
);
CREATE INDEX certificates_serial ON certificates (serial);
CREATE INDEX certificates_not_after ON certificates (not_after);

-- Append-only, hash-chained log of every CA operation (see ca_core::audit).
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    ca         TEXT,
    serial     TEXT,
    details    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
