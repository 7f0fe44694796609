-- Approval policy per tenant (see the PostgreSQL migration). SQLite has no row-level
-- security; the store scopes every policy query to its tenant.
CREATE TABLE approval_policies (
    tenant_id           TEXT PRIMARY KEY,
    default_ttl_seconds INTEGER NOT NULL CHECK (default_ttl_seconds > 0),
    max_ttl_seconds     INTEGER NOT NULL CHECK (max_ttl_seconds > 0),
    reminders           TEXT NOT NULL DEFAULT '[]',
    updated_at          DATETIME NOT NULL,
    updated_by          TEXT NOT NULL,
    CHECK (default_ttl_seconds <= max_ttl_seconds)
);
