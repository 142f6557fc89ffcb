-- caforge schema v9 (PostgreSQL; as SQLite migration 0009): managed certificates, renewed and deployed by caforge.
-- The current key is kept sealed by the key custodian (encrypted PKCS#8, like CA keys and
-- the KMC escrow); never plaintext.
CREATE TABLE managed_certificates (
    id              BIGSERIAL PRIMARY KEY,
    certificate_id  BIGINT  NOT NULL REFERENCES certificates(id),   -- the current one
    key_type        TEXT    NOT NULL,
    sealed_key      BYTEA   NOT NULL,
    deploy_dir      TEXT    NOT NULL,
    deploy_hook     TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'deployed', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    updated_at      BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);
