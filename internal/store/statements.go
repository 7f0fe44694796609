package store

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// Statement kinds, what Options.CountStatement is told. Every statement the
// store sends is one, and so is every BEGIN and COMMIT (or ROLLBACK) of its
// write transactions: on PostgreSQL each is a round trip, which is what the
// per-escalation budget (issue 22) counts.
const (
	StatementSelect   = "select"
	StatementInsert   = "insert"
	StatementUpdate   = "update"
	StatementDelete   = "delete"
	StatementBegin    = "begin"
	StatementCommit   = "commit"
	StatementRollback = "rollback"
	StatementOther    = "other"
)

// StatementKinds lists every kind, for a counter that starts each at zero.
var StatementKinds = []string{StatementSelect, StatementInsert, StatementUpdate, StatementDelete,
	StatementBegin, StatementCommit, StatementRollback, StatementOther}

// StatementCounter is told of each statement with the context it ran in
// (which may say where it came from: telemetry labels it).
type StatementCounter func(ctx context.Context, kind string)

// statementKind classifies a statement by its first keyword. A statement
// that starts with WITH is classified by the first verb after its common
// table expressions only roughly (other): the store sends none on a hot path.
func statementKind(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	word := sql
	if i := strings.IndexAny(sql, " \t\r\n("); i >= 0 {
		word = sql[:i]
	}
	switch strings.ToUpper(word) {
	case "SELECT":
		return StatementSelect
	case "INSERT":
		return StatementInsert
	case "UPDATE":
		return StatementUpdate
	case "DELETE":
		return StatementDelete
	case "BEGIN", "START":
		return StatementBegin
	case "COMMIT", "END":
		return StatementCommit
	case "ROLLBACK":
		return StatementRollback
	}
	return StatementOther
}

// countStatements registers, after each of GORM's processors (create,
// query, update, delete, row, raw), a callback that tells count of the
// statement the processor sent. A callback is a few string comparisons: the
// counter stays on in production.
func countStatements(db *gorm.DB, count StatementCounter) error {
	fn := func(tx *gorm.DB) {
		if tx.DryRun || tx.Statement.SQL.Len() == 0 {
			return // nothing was sent
		}
		count(tx.Statement.Context, statementKind(tx.Statement.SQL.String()))
	}
	cb := db.Callback()
	for _, register := range []func(string, func(*gorm.DB)) error{
		cb.Create().After("gorm:create").Register,
		cb.Query().After("gorm:query").Register,
		cb.Update().After("gorm:update").Register,
		cb.Delete().After("gorm:delete").Register,
		cb.Row().After("gorm:row").Register,
		cb.Raw().After("gorm:raw").Register,
	} {
		if err := register("orchestrator:count_statements", fn); err != nil {
			return err
		}
	}
	return nil
}

// countTx tells the store's counter of a transaction's BEGIN and its end:
// GORM runs them on the connection, past its callbacks.
func (s *Store) countTx(ctx context.Context, err error) {
	if s.countStatement == nil {
		return
	}
	s.countStatement(ctx, StatementBegin)
	if err == nil {
		s.countStatement(ctx, StatementCommit)
	} else {
		s.countStatement(ctx, StatementRollback)
	}
}
