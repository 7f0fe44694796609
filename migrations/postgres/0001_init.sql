-- Core tables of the architecture note: approvals, audit_logs, consultations.
CREATE TABLE approvals (
    id                      uuid PRIMARY KEY,
    tenant_id               varchar(256) NOT NULL,
    title                   varchar(200) NOT NULL,
    description             text         NOT NULL DEFAULT '',
    status                  varchar(16)  NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    priority                varchar(16)  NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    requested_by            varchar(256) NOT NULL,
    requested_by_name       varchar(256) NOT NULL DEFAULT '',
    approved_by             varchar(256),
    approved_by_name        varchar(256),
    comment                 text,
    metadata                jsonb        NOT NULL DEFAULT '{}'::jsonb,
    conversation_account_id bigint,
    conversation_id         bigint,
    created_at              timestamptz  NOT NULL,
    updated_at              timestamptz  NOT NULL,
    decided_at              timestamptz
);
-- Lists are per tenant, newest first, keyset-paginated on (created_at, id).
CREATE INDEX approvals_tenant_created_idx ON approvals (tenant_id, created_at DESC, id DESC);
CREATE INDEX approvals_tenant_status_created_idx ON approvals (tenant_id, status, created_at DESC, id DESC);
-- One conversation has at most one pending escalation at a time.
CREATE UNIQUE INDEX approvals_pending_conversation_uidx ON approvals (conversation_account_id, conversation_id)
    WHERE status = 'pending' AND conversation_id IS NOT NULL;

CREATE TABLE audit_logs (
    id          uuid PRIMARY KEY,
    -- event_key makes system writes idempotent: a retried activity inserts nothing.
    event_key   varchar(300) UNIQUE,
    action      varchar(100) NOT NULL,
    resource    varchar(100) NOT NULL,
    resource_id varchar(256) NOT NULL,
    user_id     varchar(256) NOT NULL,
    user_name   varchar(256) NOT NULL DEFAULT '',
    channel     varchar(32)  NOT NULL DEFAULT 'system',
    tenant_id   varchar(256) NOT NULL,
    old_values  jsonb,
    new_values  jsonb,
    metadata    jsonb,
    created_at  timestamptz  NOT NULL
);
CREATE INDEX audit_logs_tenant_created_idx ON audit_logs (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource, resource_id, created_at, id);

CREATE TABLE consultations (
    id              uuid PRIMARY KEY,
    title           varchar(200) NOT NULL,
    jitsi_room      varchar(128) NOT NULL UNIQUE,
    status          varchar(16)  NOT NULL CHECK (status IN ('scheduled', 'active', 'ended')),
    host_id         varchar(256) NOT NULL,
    -- A JSON array rather than varchar[] so that both dialects share one model.
    participant_ids jsonb        NOT NULL DEFAULT '[]'::jsonb,
    approval_id     uuid UNIQUE REFERENCES approvals (id),
    tenant_id       varchar(256) NOT NULL,
    end_reason      varchar(32),
    scheduled_at    timestamptz,
    started_at      timestamptz,
    ended_at        timestamptz,
    created_at      timestamptz  NOT NULL,
    updated_at      timestamptz  NOT NULL
);
CREATE INDEX consultations_tenant_created_idx ON consultations (tenant_id, created_at DESC, id DESC);
