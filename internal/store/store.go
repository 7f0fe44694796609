// Package store is the authoritative record of approvals, audit entries and
// consultations, on PostgreSQL or an embedded SQLite file. Every read and write
// of tenant-owned rows takes a Scope, so no code path can forget the tenant; on
// PostgreSQL the same scope is also declared to row-level security.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// Dialect names the database behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Sentinel errors; callers map them to HTTP statuses (api/problem.go), so
// none of them reads a driver's error.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalid is a value the database refuses to store (PostgreSQL data
	// exceptions, class 22): a retry can never succeed.
	ErrInvalid = errors.New("invalid value")
	// ErrUnavailable: the database did not answer, or refused for a reason
	// that passes; the request was fine and a retry may succeed.
	ErrUnavailable = errors.New("database unavailable")
)

// Classify translates what the database driver says into the store's
// errors: PostgreSQL data exceptions (class 22) are ErrInvalid; classes 08
// (connection), 53 (insufficient resources: too many connections, a full
// disk) and 57 (operator intervention: a terminated backend, a shutdown),
// 42501 (the app role's grants withdrawn, by an operator's migration or a
// revocation in progress, which the workflows retry too), a broken
// connection and a failure before anything was sent are ErrUnavailable.
// Anything else comes back as it was. The store's reads and writes return
// what it says; callers apply it to errors from elsewhere that may carry a
// driver's (it is idempotent).
func Classify(err error) error {
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case strings.HasPrefix(pg.Code, "22"):
			return fmt.Errorf("%w: %s (SQLSTATE %s)", ErrInvalid, pg.Message, pg.Code)
		case strings.HasPrefix(pg.Code, "08"), strings.HasPrefix(pg.Code, "53"), strings.HasPrefix(pg.Code, "57"), pg.Code == "42501":
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// Store wraps the GORM handle.
type Store struct {
	db *gorm.DB
	// schema is db without prepared statements, for the migrations.
	schema  *gorm.DB
	dialect Dialect
	now     func() time.Time
	// countStatement, when set, is told of every statement (statements.go).
	countStatement StatementCounter
	// onQueued hears, after a commit, which subscriptions got deliveries
	// (Options.OnDeliveriesQueued).
	onQueued func(subscriptionIDs []string)
}

// Options tune Open.
type Options struct {
	// MaxOpenConns caps the pool (PostgreSQL); 0 keeps the default of 20.
	MaxOpenConns int
	// Now replaces the clock (tests).
	Now func() time.Time
	// CountStatement, when set, is told of every statement the store sends,
	// by kind (StatementKinds): telemetry's orchestrator_db_statements_total.
	CountStatement StatementCounter
	// OnDeliveriesQueued, when set, is called after a write has committed
	// events with deliveries, with the subscriptions they are for (each
	// once), to wake the dispatcher. It runs on the writer's goroutine
	// and must not block; nil: the dispatcher finds them by polling.
	OnDeliveriesQueued func(subscriptionIDs []string)
}

// Open connects to databaseURL (postgres://… or sqlite://path) without
// migrating; call Migrate for that.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	driver, dsn, err := domain.SplitDatabaseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: DATABASE_URL %w", err)
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		// SQLite's prepared statements (Open): a bound on the cache, well
		// above the store's few and fixed statements.
		PrepareStmtMaxSize: 512,
		NowFunc:            func() time.Time { return time.Now().UTC() },
	}
	var db *gorm.DB
	switch driver {
	case "postgres":
		db, err = gorm.Open(postgres.Open(dsn), gcfg)
	case "sqlite":
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open database: create %s: %w", dir, err)
			}
		}
		// WAL lets readers run beside the single writer; busy_timeout makes
		// concurrent writers wait instead of failing with SQLITE_BUSY.
		db, err = gorm.Open(sqlite.Open(dsn+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", driver, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", driver, err)
	}
	if driver == "sqlite" {
		// One writer at a time is all SQLite allows; a single connection
		// serialises writes in Go instead of spinning on the file lock.
		sqlDB.SetMaxOpenConns(1)
	} else {
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &Store{db: db, schema: db, dialect: Dialect(driver), now: opts.Now, countStatement: opts.CountStatement, onQueued: opts.OnDeliveriesQueued}
	if driver == "sqlite" {
		// The pure-Go SQLite parses every statement anew, a seventh of
		// the worker's CPU under load (issue 22's profile): the store's
		// statements are prepared once and kept. (PostgreSQL's driver
		// caches its own.) Migrations run unprepared: a migration file is
		// several statements in one.
		s.db = db.Session(&gorm.Session{PrepareStmt: true})
	}
	if s.countStatement != nil {
		if err := countStatements(db, s.countStatement); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("open %s database: count statements: %w", driver, err)
		}
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Dialect reports which database this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.Pool()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Pool is the connection pool beneath the store, for its statistics
// (telemetry exports them: on SQLite every read and write shares one
// connection, and its wait time is what an operator needs to see).
func (s *Store) Pool() (*sql.DB, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return sqlDB, nil
}

// Close releases the pool.
func (s *Store) Close() error {
	sqlDB, err := s.Pool()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Now is the store's clock, in UTC truncated to microseconds (the precision
// both databases keep), so values read back compare equal to values written.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// write runs fn in a transaction restricted to scope.
func (s *Store) write(ctx context.Context, scope Scope, fn func(tx *gorm.DB) error) error {
	if scope.empty() {
		return ErrNotFound
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			if err := tx.Exec("SELECT set_config('app.tenant_ids', ?, true)", scope.joined()).Error; err != nil {
				return fmt.Errorf("declare tenant scope: %w", err)
			}
		}
		return fn(tx)
	})
	s.countTx(ctx, err)
	return Classify(err)
}
