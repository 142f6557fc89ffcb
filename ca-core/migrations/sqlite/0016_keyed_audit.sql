-- caforge schema v16 (SQLite): audit entries are keyed (HMAC-SHA256 under the audit key
-- kept outside the database, ca_core::audit::AuditKey). Entries written before are plain
-- SHA-256 (keyed = 0): the log's legacy segment.
ALTER TABLE audit ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
