-- Defence in depth for tenant isolation: every tenant-owned row is visible only
-- when the transaction has declared the caller's tenants in app.tenant_ids
-- (unit-separator-joined, set by the store with set_config(..., true)).
-- FORCE applies the policies to the table owner too; superusers and roles with
-- BYPASSRLS still bypass them, so the application must not run as one.
ALTER TABLE approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE approvals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON approvals
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_logs
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));

ALTER TABLE consultations ENABLE ROW LEVEL SECURITY;
ALTER TABLE consultations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON consultations
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
