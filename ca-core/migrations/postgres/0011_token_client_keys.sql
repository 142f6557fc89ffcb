-- caforge schema v11 (PostgreSQL): tokens bound to an API client's key (see SQLite 0015).
ALTER TABLE api_tokens ADD COLUMN client_key TEXT;
