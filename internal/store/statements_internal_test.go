package store

import "testing"

func TestStatementKind(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT * FROM approvals":                                           StatementSelect,
		"  select set_config('app.tenant_ids', $1, true)":                   StatementSelect,
		"(SELECT 1) UNION (SELECT 2)":                                       StatementSelect,
		`INSERT INTO "approvals" ("id") VALUES ($1) ON CONFLICT DO NOTHING`: StatementInsert,
		"UPDATE approvals SET status = $1":                                  StatementUpdate,
		"DELETE FROM webhook_deliveries":                                    StatementDelete,
		"\nBEGIN":                                                           StatementBegin,
		"COMMIT":                                                            StatementCommit,
		"ROLLBACK":                                                          StatementRollback,
		"PRAGMA foreign_key_check":                                          StatementOther,
		"WITH x AS (SELECT 1) SELECT * FROM x":                              StatementOther,
		"":                                                                  StatementOther,
	} {
		if got := statementKind(sql); got != want {
			t.Errorf("%q: %s, want %s", sql, got, want)
		}
	}
}
