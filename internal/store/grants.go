package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// appPrivileges is what the application role may do to each table; nothing
// more. No table is the application's own, so it can neither switch
// row-level security off nor change a policy (both need the owner), and
// it deletes nothing that records what happened: audit_logs is append-only
// for it. Every table a migration creates must be listed here, or
// GrantAppRole refuses to run.
var appPrivileges = map[string]string{
	"approvals":     "SELECT, INSERT, UPDATE",
	"consultations": "SELECT, INSERT, UPDATE",
	"notifications": "SELECT, INSERT, UPDATE",
	"audit_logs":    "SELECT, INSERT",
	// Deliveries are only dedupe keys: the retention job deletes old ones.
	"webhook_deliveries": "SELECT, INSERT, DELETE",
	// Counters of the create limit, one row per caller, updated in place.
	"create_rate_limits": "SELECT, INSERT, UPDATE",
	// Approval policies are replaced, never removed.
	"approval_policies": "SELECT, INSERT, UPDATE",
	// Events out (0011): subscriptions are changed and removed by their
	// tenant's approvers (a removal takes its deliveries with it); events are
	// written once, never changed, and deleted by the delivery loop once
	// older than EVENTS_RETENTION and no delivery references them;
	// deliveries move through their states and keep every attempt until the
	// loop deletes them, finished and older than EVENTS_RETENTION.
	"event_subscriptions":     "SELECT, INSERT, UPDATE, DELETE",
	"events":                  "SELECT, INSERT, DELETE",
	"event_deliveries":        "SELECT, INSERT, UPDATE, DELETE",
	"event_delivery_attempts": "SELECT, INSERT, DELETE",
	// Read so that `migrate` run as the application role can tell that
	// nothing is pending.
	"schema_migrations": "SELECT",
}

// appFunctions are the SECURITY DEFINER functions of the schema, by
// signature: they run as the owner, so PUBLIC may not call them (each
// migration revokes that) and the application role gets EXECUTE. Each must
// return no tenant's data. A SECURITY DEFINER function not listed here makes
// GrantAppRole refuse to run.
var appFunctions = []string{
	// Counts of waiting escalations near and past their deadline, across
	// tenants (0010), for the deadline gauges.
	"orchestrator_deadline_counts(interval)",
	// The tenants that have an audit trail (0012), for `audit verify`
	// across every tenant.
	"orchestrator_audit_tenants()",
}

// ErrPrivilegedRole is an application role that row-level security would not
// bind: a superuser, a BYPASSRLS role, or the role running the migrations.
var ErrPrivilegedRole = errors.New("the application role must be neither superuser, BYPASSRLS nor the tables' owner")

// GrantAppRole gives role, the role the application connects as, exactly
// appPrivileges on the tables of the current schema (revoking anything
// else), EXECUTE on appFunctions and USAGE on the schema. It runs as the
// tables' owner, after Migrate; it is idempotent, so running it at every
// migrate keeps the grants in step with the migrations. SQLite has no roles: it does nothing there.
func (s *Store) GrantAppRole(ctx context.Context, role string) error {
	if s.dialect != Postgres {
		return nil
	}
	if role == "" {
		return errors.New("grant application role: no role named")
	}
	ident := pgx.Identifier{role}.Sanitize()
	err := s.db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		// Serialised with Migrate: the table list must not change midway.
		if err := conn.Exec("SELECT pg_advisory_lock(?)", migrationLock).Error; err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		defer conn.Exec("SELECT pg_advisory_unlock(?)", migrationLock)
		return conn.Transaction(func(tx *gorm.DB) error {
			var r struct {
				Exists, Super, Bypass, Self bool
				Owns                        int
			}
			if err := tx.Raw(`SELECT count(*) > 0 AS exists, coalesce(bool_or(r.rolsuper), false) AS super,
					coalesce(bool_or(r.rolbypassrls), false) AS bypass, coalesce(bool_or(r.rolname = current_user), false) AS self,
					(SELECT count(*) FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner
					 WHERE o.rolname = ? AND c.relnamespace = current_schema()::regnamespace) AS owns
				FROM pg_roles r WHERE r.rolname = ?`, role, role).Scan(&r).Error; err != nil {
				return fmt.Errorf("read role %s: %w", role, err)
			}
			switch {
			case !r.Exists:
				return fmt.Errorf("role %s does not exist", role)
			case r.Super || r.Bypass || r.Self || r.Owns > 0:
				// An application role that owns objects is a database the
				// application migrated itself: hand them to the owner first
				// (REASSIGN OWNED BY <app> TO <owner>, as a superuser).
				return fmt.Errorf("role %s (superuser=%v, bypassrls=%v, migrating role=%v, owns %d objects): %w",
					role, r.Super, r.Bypass, r.Self, r.Owns, ErrPrivilegedRole)
			}
			var tables []string
			if err := tx.Raw(`SELECT c.relname FROM pg_class c
				WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
				ORDER BY c.relname`).Scan(&tables).Error; err != nil {
				return fmt.Errorf("list tables: %w", err)
			}
			var unplanned []string
			for _, t := range tables {
				if _, ok := appPrivileges[t]; !ok {
					unplanned = append(unplanned, t)
				}
			}
			if len(unplanned) > 0 {
				sort.Strings(unplanned)
				return fmt.Errorf("tables %v have no privileges planned for the application role: add them to appPrivileges", unplanned)
			}
			var definers []string
			if err := tx.Raw(`SELECT p.oid::regprocedure::text FROM pg_proc p
				WHERE p.pronamespace = current_schema()::regnamespace AND p.prosecdef
				ORDER BY 1`).Scan(&definers).Error; err != nil {
				return fmt.Errorf("list SECURITY DEFINER functions: %w", err)
			}
			planned := map[string]bool{}
			for _, f := range appFunctions {
				planned[f] = true
			}
			var unplannedFns []string
			for _, f := range definers {
				if !planned[f] {
					unplannedFns = append(unplannedFns, f)
				}
			}
			if len(unplannedFns) > 0 {
				return fmt.Errorf("SECURITY DEFINER functions %v have no privileges planned for the application role: add them to appFunctions", unplannedFns)
			}
			var schema string
			if err := tx.Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
				return fmt.Errorf("read current schema: %w", err)
			}
			stmts := []string{"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + ident}
			for _, t := range tables {
				table := pgx.Identifier{t}.Sanitize()
				stmts = append(stmts,
					"REVOKE ALL ON TABLE "+table+" FROM "+ident,
					"GRANT "+appPrivileges[t]+" ON TABLE "+table+" TO "+ident)
			}
			// Listed as the function's regprocedure text, which names it
			// as search_path finds it: safe to splice into a statement.
			for _, f := range definers {
				stmts = append(stmts,
					"REVOKE ALL ON FUNCTION "+f+" FROM "+ident,
					"GRANT EXECUTE ON FUNCTION "+f+" TO "+ident)
			}
			for _, stmt := range stmts {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%s: %w", stmt, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("grant application role: %w", err)
	}
	return nil
}
