-- caforge schema v6 (SQLite): certificate lifecycle — renewal links, scheduled
-- revocations, CA generations (rollover) and cross certificates.

-- A rolled-over CA names the generation it replaces; each CA has at most one successor.
ALTER TABLE cas ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cas ADD COLUMN predecessor_ca_id INTEGER REFERENCES cas(id);
CREATE UNIQUE INDEX cas_predecessor ON cas (predecessor_ca_id) WHERE predecessor_ca_id IS NOT NULL;

-- renew (same key), rekey (new key), reissue (new names): the successor points back.
CREATE TABLE certificate_successions (
    successor_id   INTEGER PRIMARY KEY REFERENCES certificates(id),
    predecessor_id INTEGER NOT NULL REFERENCES certificates(id),
    kind           TEXT    NOT NULL CHECK (kind IN ('renew', 'rekey', 'reissue')),
    created_at     INTEGER NOT NULL
);
CREATE INDEX certificate_successions_predecessor ON certificate_successions (predecessor_id);

-- Revocations that take effect later (a superseded certificate's grace period). A row is
-- deleted when the revocation is carried out.
CREATE TABLE scheduled_revocations (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    reason         INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    requested_at   INTEGER NOT NULL
);
CREATE INDEX scheduled_revocations_due ON scheduled_revocations (due_at);

-- Cross certificates: a CA's subject and key certified by another CA (the certificate row
-- sits under its issuer; this row names the CA it certifies).
CREATE TABLE cross_certificates (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    subject_ca_id  INTEGER NOT NULL REFERENCES cas(id),
    created_at     INTEGER NOT NULL
);
CREATE INDEX cross_certificates_subject ON cross_certificates (subject_ca_id);

-- A CA retires when the last certificate it issued expires.
CREATE INDEX certificates_issuer_expiry ON certificates (issuer_ca_id, not_after);
