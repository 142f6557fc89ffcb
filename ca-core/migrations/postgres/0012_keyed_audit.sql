-- caforge schema v12 (PostgreSQL): audit entries are keyed (see the SQLite migration 0016).
ALTER TABLE audit ADD COLUMN keyed BIGINT NOT NULL DEFAULT 0;
