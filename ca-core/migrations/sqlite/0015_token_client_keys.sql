-- caforge schema v15 (SQLite): a token may be bound to an API client's key (hex SHA-256 of
-- the SubjectPublicKeyInfo of its TLS client certificate); it is then accepted only on a
-- connection that presented a certificate for that key.
ALTER TABLE api_tokens ADD COLUMN client_key TEXT;
