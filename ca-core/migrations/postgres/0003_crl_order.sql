-- CRLs list entries by serial as an unsigned integer: by length, then by hex (bytewise,
-- whatever the database's collation). This index gives that order without sorting.
CREATE INDEX certificates_crl_order ON certificates (issuer_ca_id, length(serial), serial COLLATE "C");
