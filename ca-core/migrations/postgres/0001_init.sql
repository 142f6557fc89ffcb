-- caforge on PostgreSQL: the same tables as the SQLite migrations 0001–0004, in
-- PostgreSQL types (BIGINT for every integer and Unix time, BYTEA for DER).

CREATE TABLE cas (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    parent_id        BIGINT REFERENCES cas(id),
    key_type         TEXT    NOT NULL,
    key_ref          TEXT    NOT NULL,
    sm2_id           TEXT    NOT NULL,
    key_id           TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    serial           TEXT    NOT NULL,
    not_before       BIGINT  NOT NULL,
    not_after        BIGINT  NOT NULL,
    path_len         BIGINT,
    name_constraints TEXT    NOT NULL DEFAULT '{"permitted_dns":[],"excluded_dns":[]}',
    cert_der         BYTEA   NOT NULL,
    created_at       BIGINT  NOT NULL,
    base_url         TEXT,
    crl_lifetime     BIGINT  NOT NULL DEFAULT 604800,
    delta_lifetime   BIGINT  NOT NULL DEFAULT 86400,
    crl_partitions   BIGINT  NOT NULL DEFAULT 1,
    ocsp_signer      TEXT    NOT NULL DEFAULT 'ca' CHECK (ocsp_signer IN ('ca', 'delegated')),
    ocsp_lifetime    BIGINT  NOT NULL DEFAULT 86400
);

CREATE TABLE serials (
    issuer_key_id TEXT    NOT NULL,
    serial        TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('reserved', 'used')),
    reserved_at   BIGINT  NOT NULL,
    PRIMARY KEY (issuer_key_id, serial)
);

CREATE TABLE certificates (
    id                BIGSERIAL PRIMARY KEY,
    issuer_ca_id      BIGINT  NOT NULL REFERENCES cas(id),
    serial            TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    sans              TEXT    NOT NULL,
    profile           TEXT    NOT NULL,
    key_type          TEXT    NOT NULL,
    not_before        BIGINT  NOT NULL,
    not_after         BIGINT  NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'valid',
    fingerprint       TEXT    NOT NULL,
    der               BYTEA   NOT NULL,
    created_at        BIGINT  NOT NULL,
    crl_partition     BIGINT,
    crl_url           TEXT,
    spki_sha256       TEXT,
    revoked_at        BIGINT,
    revocation_reason BIGINT,
    invalidity_date   BIGINT,
    hold_released_at  BIGINT,
    revocation_seq    BIGINT,
    UNIQUE (issuer_ca_id, serial)
);
CREATE INDEX certificates_serial ON certificates (serial);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_revoked ON certificates (issuer_ca_id, status, crl_partition);
CREATE INDEX certificates_revocation_seq ON certificates (issuer_ca_id, revocation_seq);

CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    action     TEXT   NOT NULL,
    ca         TEXT,
    serial     TEXT,
    details    TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL
);
CREATE FUNCTION caforge_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION caforge_audit_append_only();

CREATE TABLE crl_numbers (
    ca_id  BIGINT PRIMARY KEY REFERENCES cas(id),
    last   BIGINT NOT NULL
);

CREATE TABLE crls (
    id             BIGSERIAL PRIMARY KEY,
    ca_id          BIGINT NOT NULL REFERENCES cas(id),
    number         BIGINT NOT NULL,
    partition      BIGINT,
    base_number    BIGINT,
    revocation_seq BIGINT NOT NULL,
    this_update    BIGINT NOT NULL,
    next_update    BIGINT NOT NULL,
    entries        BIGINT NOT NULL,
    der            BYTEA  NOT NULL,
    UNIQUE (ca_id, number)
);
CREATE INDEX crls_scope ON crls (ca_id, partition, base_number, number);

CREATE TABLE blocked_keys (
    spki_sha256 TEXT   PRIMARY KEY,
    serial      TEXT   NOT NULL,
    ca_id       BIGINT NOT NULL REFERENCES cas(id),
    blocked_at  BIGINT NOT NULL
);

CREATE TABLE ocsp_responders (
    id             BIGSERIAL PRIMARY KEY,
    ca_id          BIGINT NOT NULL REFERENCES cas(id),
    certificate_id BIGINT NOT NULL REFERENCES certificates(id),
    key_ref        TEXT   NOT NULL,
    not_after      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE ocsp_responses (
    ca_id       BIGINT NOT NULL REFERENCES cas(id),
    serial      TEXT   NOT NULL,
    hash_alg    TEXT   NOT NULL,
    produced_at BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der         BYTEA  NOT NULL,
    PRIMARY KEY (ca_id, serial, hash_alg)
);

CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT   NOT NULL,
    token_hash  TEXT   NOT NULL UNIQUE,
    cas         TEXT   NOT NULL,
    profiles    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);

CREATE TABLE certificate_pairs (
    id         BIGSERIAL PRIMARY KEY,
    mode       TEXT   NOT NULL CHECK (mode IN ('rsa-sm2', 'sm2-sign-enc')),
    first_id   BIGINT NOT NULL UNIQUE REFERENCES certificates(id),
    second_id  BIGINT NOT NULL UNIQUE REFERENCES certificates(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE kmc_escrow (
    certificate_id BIGINT PRIMARY KEY REFERENCES certificates(id),
    sealed         BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL
);
