-- caforge on PostgreSQL, as SQLite migration 0008: issuance quotas of API tokens.
ALTER TABLE api_tokens ADD COLUMN quota_count BIGINT;      -- NULL: no quota
ALTER TABLE api_tokens ADD COLUMN quota_window BIGINT;     -- seconds

CREATE TABLE token_issuances (
    id             BIGSERIAL PRIMARY KEY,
    token_id       BIGINT NOT NULL REFERENCES api_tokens(id),
    certificate_id BIGINT REFERENCES certificates(id),
    reserved_at    BIGINT NOT NULL
);
CREATE INDEX token_issuances_window ON token_issuances (token_id, reserved_at);
