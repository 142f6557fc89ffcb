-- caforge schema v7 (PostgreSQL; as SQLite migration 0007): the inventory of certificates caforge did not issue, and
-- expiry notifications.

-- Imported (or probed) certificates, one row per distinct certificate (SHA-256 of the DER).
-- They are tracked for expiry only: caforge cannot revoke them.
CREATE TABLE inventory (
    id                  BIGSERIAL PRIMARY KEY,
    fingerprint         TEXT    NOT NULL UNIQUE,
    subject             TEXT    NOT NULL,
    issuer              TEXT    NOT NULL,       -- issuer DN as written in the certificate
    serial              TEXT    NOT NULL,
    sans                TEXT    NOT NULL,       -- JSON array of SANs
    key_type            TEXT    NOT NULL,
    not_before          BIGINT  NOT NULL,
    not_after           BIGINT  NOT NULL,
    issuer_ca_id        BIGINT  REFERENCES cas(id),        -- a caforge CA signed it
    issuer_inventory_id BIGINT,                       -- an imported CA signed it (inventory id)
    source              TEXT    NOT NULL,       -- file path, or host:port of a probe
    der                 BYTEA   NOT NULL,
    imported_at         BIGINT  NOT NULL
);
CREATE INDEX inventory_not_after ON inventory (not_after);
CREATE INDEX inventory_serial ON inventory (serial);

-- One row per (certificate, threshold, webhook): created when the threshold is reached,
-- so a restart neither sends twice nor skips one; delivered at least once, retried with
-- backoff until delivered or given up.
CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    target          TEXT    NOT NULL,           -- 'cert:<id>' or 'inventory:<id>'
    threshold_days  BIGINT  NOT NULL,
    webhook         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    payload         TEXT    NOT NULL,           -- the JSON body
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (target, threshold_days, webhook)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
