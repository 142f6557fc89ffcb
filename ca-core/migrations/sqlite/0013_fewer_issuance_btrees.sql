-- Every group commit writes the last page of each b-tree its issuances touched, however few
-- rows each gained (about 22 WAL frames for a batch of 7 certificates). Two b-trees fewer:
--
-- No SQLite query reads certificates_not_after: listings filter with "$n IS NULL OR …",
-- which SQLite answers with a scan, and a CA's last expiry reads the covering
-- certificates_issuer_expiry. (PostgreSQL plans with the values and keeps its copy.)
DROP INDEX certificates_not_after;

-- Serials are only ever found by (issuer key, serial): keep them in that key's b-tree
-- rather than in a rowid table beside a second b-tree for the key.
CREATE TABLE serials_by_key (
    issuer_key_id TEXT    NOT NULL,
    serial        TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('reserved', 'used')),
    reserved_at   INTEGER NOT NULL,
    PRIMARY KEY (issuer_key_id, serial)
) WITHOUT ROWID;
INSERT INTO serials_by_key (issuer_key_id, serial, state, reserved_at)
    SELECT issuer_key_id, serial, state, reserved_at FROM serials;
DROP TABLE serials;
ALTER TABLE serials_by_key RENAME TO serials;
