-- migrate: foreign-keys-off
-- The statuses of an escalation's whole life and its deadline (see the PostgreSQL migration).
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt, with foreign keys off
-- (consultations reference it) and checked again before they are turned back on.
CREATE TABLE approvals_new (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL,
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'info_requested', 'approved', 'rejected', 'expired', 'withdrawn')),
    priority                TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    requested_by            TEXT NOT NULL,
    requested_by_name       TEXT NOT NULL DEFAULT '',
    approved_by             TEXT,
    approved_by_name        TEXT,
    comment                 TEXT,
    metadata                TEXT NOT NULL DEFAULT '{}',
    conversation_account_id INTEGER,
    conversation_id         INTEGER,
    created_at              DATETIME NOT NULL,
    updated_at              DATETIME NOT NULL,
    decided_at              DATETIME,
    expires_at              DATETIME
);
INSERT INTO approvals_new (id, tenant_id, title, description, status, priority, requested_by, requested_by_name,
    approved_by, approved_by_name, comment, metadata, conversation_account_id, conversation_id, created_at,
    updated_at, decided_at)
SELECT id, tenant_id, title, description, status, priority, requested_by, requested_by_name,
    approved_by, approved_by_name, comment, metadata, conversation_account_id, conversation_id, created_at,
    updated_at, decided_at
FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_new RENAME TO approvals;
CREATE INDEX approvals_tenant_created_idx ON approvals (tenant_id, created_at DESC, id DESC);
CREATE INDEX approvals_tenant_status_created_idx ON approvals (tenant_id, status, created_at DESC, id DESC);
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (tenant_id, conversation_account_id, conversation_id)
    WHERE status IN ('pending', 'info_requested') AND conversation_id IS NOT NULL;
