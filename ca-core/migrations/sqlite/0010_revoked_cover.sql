-- The revoked certificates in CRL order, with every column a full CRL entry needs: building
-- a full CRL reads this index alone (a few dozen bytes an entry) and never the certificate
-- rows, each of which carries its DER. Partial: only revoked certificates are in it
-- (`status` is listed too: SQLite counts an index as covering only if it names every column
-- the query reads, the partial index's condition included).
CREATE INDEX certificates_revoked_cover ON certificates
    (issuer_ca_id, length(serial), serial, crl_partition, not_after,
     revoked_at, revocation_reason, invalidity_date, status)
    WHERE status = 'revoked';
