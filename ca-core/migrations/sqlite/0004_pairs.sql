-- Dual certificates: two certificates issued together for one subject, committed in one
-- transaction (rsa-sm2: same subject under an RSA/ECDSA CA and an SM2 CA; sm2-sign-enc:
-- GM/T 0015 signing + encryption certificates, the encryption key made by caforge's KMC).
CREATE TABLE certificate_pairs (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('rsa-sm2', 'sm2-sign-enc')),
    first_id INTEGER NOT NULL UNIQUE REFERENCES certificates(id),
    second_id INTEGER NOT NULL UNIQUE REFERENCES certificates(id),
    created_at INTEGER NOT NULL
);

-- The KMC's escrow of encryption private keys, sealed by the key custodian (encrypted
-- PKCS#8 for file keys): never plaintext. Signing keys are never escrowed.
CREATE TABLE kmc_escrow (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
