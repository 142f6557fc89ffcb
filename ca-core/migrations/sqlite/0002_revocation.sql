-- caforge schema v2 (SQLite): revocation, CRLs, OCSP.

-- Publication settings of each CA (see ca_core::revocation::CaSettings).
ALTER TABLE cas ADD COLUMN base_url TEXT;
ALTER TABLE cas ADD COLUMN crl_lifetime INTEGER NOT NULL DEFAULT 604800;      -- 7 days
ALTER TABLE cas ADD COLUMN delta_lifetime INTEGER NOT NULL DEFAULT 86400;     -- 1 day
ALTER TABLE cas ADD COLUMN crl_partitions INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cas ADD COLUMN ocsp_signer TEXT NOT NULL DEFAULT 'ca' CHECK (ocsp_signer IN ('ca', 'delegated'));
ALTER TABLE cas ADD COLUMN ocsp_lifetime INTEGER NOT NULL DEFAULT 86400;      -- 1 day

-- Revocation state lives on the certificate row, so a certificate and its status can never
-- disagree. revocation_seq orders every change (revoke, hold released) for delta CRLs.
ALTER TABLE certificates ADD COLUMN crl_partition INTEGER;                    -- NULL: unpartitioned
ALTER TABLE certificates ADD COLUMN crl_url TEXT;                             -- the CDP it carries
ALTER TABLE certificates ADD COLUMN spki_sha256 TEXT;
ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;
ALTER TABLE certificates ADD COLUMN revocation_reason INTEGER;
ALTER TABLE certificates ADD COLUMN invalidity_date INTEGER;
ALTER TABLE certificates ADD COLUMN hold_released_at INTEGER;
ALTER TABLE certificates ADD COLUMN revocation_seq INTEGER;
CREATE INDEX certificates_revoked ON certificates (issuer_ca_id, status, crl_partition);
CREATE INDEX certificates_revocation_seq ON certificates (issuer_ca_id, revocation_seq);

-- CRL numbers are allocated (committed) before a CRL is signed, so a failed run never
-- reuses one: RFC 5280 §5.2.3 wants them to only ever grow, per CA.
CREATE TABLE crl_numbers (
    ca_id  INTEGER PRIMARY KEY REFERENCES cas(id),
    last   INTEGER NOT NULL
);

-- Every CRL that was signed, with the revocation_seq it reflects (the base of later deltas).
CREATE TABLE crls (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    ca_id          INTEGER NOT NULL REFERENCES cas(id),
    number         INTEGER NOT NULL,
    partition      INTEGER,
    base_number    INTEGER,                     -- set on delta CRLs
    revocation_seq INTEGER NOT NULL,
    this_update    INTEGER NOT NULL,
    next_update    INTEGER NOT NULL,
    entries        INTEGER NOT NULL,
    der            BLOB    NOT NULL,
    UNIQUE (ca_id, number)
);
CREATE INDEX crls_scope ON crls (ca_id, partition, base_number, number);

-- Keys whose compromise was reported: never certified again.
CREATE TABLE blocked_keys (
    spki_sha256 TEXT    PRIMARY KEY,
    serial      TEXT    NOT NULL,
    ca_id       INTEGER NOT NULL REFERENCES cas(id),
    blocked_at  INTEGER NOT NULL
);

-- Delegated OCSP responders caforge issued for a CA (the newest valid one signs).
CREATE TABLE ocsp_responders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ca_id       INTEGER NOT NULL REFERENCES cas(id),
    certificate_id INTEGER NOT NULL REFERENCES certificates(id),
    key_ref     TEXT    NOT NULL,
    not_after   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Pre-signed single OCSP responses (RFC 5019), dropped whenever the status changes.
CREATE TABLE ocsp_responses (
    ca_id       INTEGER NOT NULL REFERENCES cas(id),
    serial      TEXT    NOT NULL,
    hash_alg    TEXT    NOT NULL,
    produced_at INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der         BLOB    NOT NULL,
    PRIMARY KEY (ca_id, serial, hash_alg)
);
