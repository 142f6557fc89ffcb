-- caforge schema v3 (SQLite): API tokens. Only a SHA-256 of each token is stored.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    cas         TEXT    NOT NULL,              -- JSON array of CA names ("*": every CA)
    profiles    TEXT    NOT NULL,              -- JSON array of profile names ("*": every profile)
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
