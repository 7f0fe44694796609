-- How many waiting escalations (pending or info_requested) reach their deadline within a window,
-- and how many are already past it, across all tenants, for the orchestrator's deadline gauges.
-- Row-level security lets the application role count only the tenants it declares, so the count
-- runs in a SECURITY DEFINER function owned by the tables' owner (the role running migrations),
-- which returns two numbers and nothing else: no tenant, no id, no row.
--
-- FORCE ROW LEVEL SECURITY (0002) binds the owner too, so the owner also gets a read-only policy
-- that holds only while app.deadline_counts is 'on', which the function sets for the time of its
-- count and then puts back. Another role setting it gains nothing (the policy names the owner
-- alone), and the owner's other statements stay scoped as before.
CREATE POLICY deadline_counts ON approvals FOR SELECT TO CURRENT_USER
    USING (current_setting('app.deadline_counts', true) = 'on');

-- The schema is written into the function and its search_path is fixed to pg_catalog and pg_temp
-- (searched last), so no object another role creates can stand in for a table or an operator.
DO $migration$
BEGIN
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.orchestrator_deadline_counts(within interval)
        RETURNS TABLE (near bigint, overdue bigint)
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $body$
        DECLARE
            prev text := current_setting('app.deadline_counts', true);
        BEGIN
            PERFORM set_config('app.deadline_counts', 'on', true);
            SELECT count(*) FILTER (WHERE a.expires_at > now() AND a.expires_at <= now() + within),
                   count(*) FILTER (WHERE a.expires_at <= now())
            INTO near, overdue
            FROM %1$I.approvals a
            WHERE a.status IN ('pending', 'info_requested') AND a.expires_at IS NOT NULL;
            PERFORM set_config('app.deadline_counts', coalesce(prev, ''), true);
            RETURN NEXT;
        END
        $body$
    $fn$, current_schema());
END
$migration$;

-- Functions are executable by PUBLIC unless revoked; GrantAppRole grants EXECUTE to the
-- application role alone.
REVOKE ALL ON FUNCTION orchestrator_deadline_counts(interval) FROM PUBLIC;

-- Counted at every scrape (cached for seconds): the waiting rows alone, by deadline, so the count
-- never scans the decided history.
CREATE INDEX approvals_waiting_expires_idx ON approvals (expires_at)
    WHERE status IN ('pending', 'info_requested');
