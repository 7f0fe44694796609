-- The audit trail as a hash chain per tenant (see the PostgreSQL migration and docs/audit.md).
-- The rows already there are chained by the migration runner right after this file, in the same
-- transaction. SQLite has no roles: whoever can write the file can write the table, and the chain
-- is what shows it.
ALTER TABLE audit_logs ADD COLUMN seq INTEGER;
ALTER TABLE audit_logs ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_logs ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_logs_tenant_seq_idx ON audit_logs (tenant_id, seq);
