-- The audit trail as a hash chain per tenant (docs/audit.md): every entry gets the tenant's next
-- sequence number (gapless, from 1), the hash of the entry before it and its own hash. The store
-- computes them on insert; the rows already there are chained by the migration runner right after
-- this file, in the same transaction, oldest first (created_at, id), and the columns then become
-- NOT NULL. The unique index orders a tenant's chain and finds its head in one indexed read.
ALTER TABLE audit_logs
    ADD COLUMN seq       bigint,
    ADD COLUMN prev_hash varchar(64),
    ADD COLUMN hash      varchar(64);
CREATE UNIQUE INDEX audit_logs_tenant_seq_idx ON audit_logs (tenant_id, seq);

-- Append-only: the application role has only SELECT and INSERT (grants.go); this trigger also
-- refuses UPDATE, DELETE and TRUNCATE to every other role that might be granted them (a reporting
-- or DBA role), except the tables' owner, which the migrations need. The owner credential is kept
-- away from day-to-day use (docs/audit.md); what it changes the chain shows.
CREATE FUNCTION orchestrator_audit_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID) THEN
        RAISE EXCEPTION 'audit_logs is append-only: % refused to role %', TG_OP, current_user
            USING ERRCODE = '42501';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION orchestrator_audit_append_only() FROM PUBLIC;

CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION orchestrator_audit_append_only();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION orchestrator_audit_append_only();

-- `orchestrator audit verify` without --tenant walks every tenant's chain, but row-level security
-- hides which tenants have one from the application role. As for the deadline counts (0010), a
-- SECURITY DEFINER function owned by the tables' owner lists them, and nothing else: the owner gets
-- a read-only policy that holds only while app.audit_tenants is 'on', which the function sets for
-- the time of its query and then puts back.
CREATE POLICY audit_tenants ON audit_logs FOR SELECT TO CURRENT_USER
    USING (current_setting('app.audit_tenants', true) = 'on');

DO $migration$
BEGIN
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.orchestrator_audit_tenants()
        RETURNS SETOF text
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $body$
        DECLARE
            prev text := current_setting('app.audit_tenants', true);
        BEGIN
            PERFORM set_config('app.audit_tenants', 'on', true);
            RETURN QUERY SELECT DISTINCT a.tenant_id::text FROM %1$I.audit_logs a ORDER BY 1;
            PERFORM set_config('app.audit_tenants', coalesce(prev, ''), true);
        END
        $body$
    $fn$, current_schema());
END
$migration$;
REVOKE ALL ON FUNCTION orchestrator_audit_tenants() FROM PUBLIC;
