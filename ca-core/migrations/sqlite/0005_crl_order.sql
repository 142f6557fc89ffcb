-- CRLs list entries by serial as an unsigned integer: by length, then by hex. This index
-- gives that order without sorting, so a million-entry CRL is read in index order.
CREATE INDEX certificates_crl_order ON certificates (issuer_ca_id, length(serial), serial);
