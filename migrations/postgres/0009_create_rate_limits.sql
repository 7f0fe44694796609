-- How many escalations each caller created in the current window (CREATE_RATE_LIMIT), counted
-- here so that every API replica counts the same. One row per tenant and subject: the window
-- it counts (unix seconds of its start) and the creates seen in it; a create in a later window
-- starts the count again, so the table holds one row per caller, never one per window.
CREATE TABLE create_rate_limits (
    tenant_id    varchar(256) NOT NULL,
    subject      text         NOT NULL,
    window_start bigint       NOT NULL,
    count        bigint       NOT NULL CHECK (count > 0),
    PRIMARY KEY (tenant_id, subject)
);

-- The same tenant isolation as 0002, 0004 and 0007, for the table owner too (FORCE).
ALTER TABLE create_rate_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE create_rate_limits FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON create_rate_limits
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));

-- Webhook deliveries are kept for WEBHOOK_DEDUPE_RETENTION; the retention job deletes by age.
CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at);
