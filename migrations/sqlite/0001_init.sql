-- Core tables of the architecture note: approvals, audit_logs, consultations.
-- Times are stored as UTC text by the driver, which sorts chronologically.
CREATE TABLE approvals (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL,
    title                   TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
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
    decided_at              DATETIME
);
CREATE INDEX approvals_tenant_created_idx ON approvals (tenant_id, created_at DESC, id DESC);
CREATE INDEX approvals_tenant_status_created_idx ON approvals (tenant_id, status, created_at DESC, id DESC);
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (conversation_account_id, conversation_id)
    WHERE status = 'pending' AND conversation_id IS NOT NULL;

CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    event_key   TEXT UNIQUE,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL DEFAULT 'system',
    tenant_id   TEXT NOT NULL,
    old_values  TEXT,
    new_values  TEXT,
    metadata    TEXT,
    created_at  DATETIME NOT NULL
);
CREATE INDEX audit_logs_tenant_created_idx ON audit_logs (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource, resource_id, created_at, id);

CREATE TABLE consultations (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL,
    jitsi_room      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'active', 'ended')),
    host_id         TEXT NOT NULL,
    participant_ids TEXT NOT NULL DEFAULT '[]',
    approval_id     TEXT UNIQUE REFERENCES approvals (id),
    tenant_id       TEXT NOT NULL,
    end_reason      TEXT,
    scheduled_at    DATETIME,
    started_at      DATETIME,
    ended_at        DATETIME,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX consultations_tenant_created_idx ON consultations (tenant_id, created_at DESC, id DESC);
