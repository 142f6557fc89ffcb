-- Large CRLs (a million entries is ~48 MB) are stored in parts rather than as one value:
-- writing or reading one huge value makes the database library hold several copies of it
-- at once. `parts` is 0 when the bytes are inline in `crls.der`.
ALTER TABLE crls ADD COLUMN parts BIGINT NOT NULL DEFAULT 0;
CREATE TABLE crl_parts (
    crl_id BIGINT NOT NULL REFERENCES crls(id),
    part   BIGINT NOT NULL,
    bytes  BYTEA  NOT NULL,
    PRIMARY KEY (crl_id, part)
);
