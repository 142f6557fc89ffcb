-- Large CRLs (a million entries is ~48 MB) are stored in parts rather than as one value:
-- writing or reading one huge value makes the database library hold several copies of it
-- at once. `parts` is 0 when the bytes are inline in `crls.der`.
ALTER TABLE crls ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
CREATE TABLE crl_parts (
    crl_id INTEGER NOT NULL REFERENCES crls(id),
    part   INTEGER NOT NULL,
    bytes  BLOB    NOT NULL,
    PRIMARY KEY (crl_id, part)
);
