-- notifications holds tenant rows (tenant_id, the approval, Chatwoot's and Matrix's answers) but
-- was created without the tenant isolation every other tenant table has. The same policy as in
-- 0002: rows are visible and writable only within the tenants the transaction declared in
-- app.tenant_ids, for the table owner too (FORCE).
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications
    USING (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))))
    WITH CHECK (tenant_id = ANY (string_to_array(current_setting('app.tenant_ids', true), chr(31))));
