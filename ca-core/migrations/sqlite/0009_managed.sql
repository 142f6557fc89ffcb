-- caforge schema v9 (SQLite): managed certificates, renewed and deployed by caforge.
-- The current key is kept sealed by the key custodian (encrypted PKCS#8, like CA keys and
-- the KMC escrow); never plaintext.
CREATE TABLE managed_certificates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id  INTEGER NOT NULL REFERENCES certificates(id),   -- the current one
    key_type        TEXT    NOT NULL,
    sealed_key      BLOB    NOT NULL,
    deploy_dir      TEXT    NOT NULL,
    deploy_hook     TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'deployed', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
