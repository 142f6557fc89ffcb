-- caforge schema v8 (SQLite): issuance quotas of API tokens (N certificates per window).
ALTER TABLE api_tokens ADD COLUMN quota_count INTEGER;     -- NULL: no quota
ALTER TABLE api_tokens ADD COLUMN quota_window INTEGER;    -- seconds

-- One row per issuance a token was allowed: reserved before signing (so concurrent
-- requests cannot both take the last slot), bound to the certificate afterwards, deleted
-- when issuance fails.
CREATE TABLE token_issuances (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id       INTEGER NOT NULL REFERENCES api_tokens(id),
    certificate_id INTEGER REFERENCES certificates(id),
    reserved_at    INTEGER NOT NULL
);
CREATE INDEX token_issuances_window ON token_issuances (token_id, reserved_at);
