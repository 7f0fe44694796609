-- Approval policy per tenant: the default and maximum time an escalation may wait for a
-- decision, and the reminders sent while it waits (a JSON array of seconds after creation).
-- A tenant without a row uses the configured defaults (APPROVAL_TTL, APPROVAL_MAX_TTL,
-- APPROVAL_REMINDERS). New escalations snapshot the policy, so a change never moves the
-- deadline of one already waiting.
CREATE TABLE approval_policies (
    tenant_id           varchar(256) PRIMARY KEY,
    default_ttl_seconds bigint       NOT NULL CHECK (default_ttl_seconds > 0),
    max_ttl_seconds     bigint       NOT NULL CHECK (max_ttl_seconds > 0),
    -- JSON array of seconds after creation, ascending.
    reminders           jsonb        NOT NULL DEFAULT '[]'::jsonb,
    updated_at          timestamptz  NOT NULL,
    updated_by          varchar(256) NOT NULL,
    CHECK (default_ttl_seconds <= max_ttl_seconds)
);

-- The same tenant isolation as 0002 and 0004, for the table owner too (FORCE).
ALTER TABLE approval_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE approval_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON approval_policies
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
