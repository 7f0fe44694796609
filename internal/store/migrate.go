package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/orchestrator-dev/orchestrator/migrations"
)

// Migration is one versioned SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations lists the dialect's migrations in order. It fails when a file is
// misnamed or the versions are not 1, 2, 3… without gaps or repeats.
func Migrations(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(migrations.FS, string(d))
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", d, e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(migrations.FS, path.Join(string(d), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s migrations: expected version %04d, found %04d_%s", d, i+1, m.Version, m.Name)
		}
	}
	return out, nil
}

// migrationLock is the advisory lock key that serialises concurrent migrators
// (several replicas starting at once) on PostgreSQL.
const migrationLock = 7_246_112_019

// Migrate applies every migration not yet applied, each in its own
// transaction, and returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	all, err := Migrations(s.dialect)
	if err != nil {
		return nil, err
	}
	var applied []int
	err = s.schema.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if s.dialect == Postgres {
			if err := conn.Exec("SELECT pg_advisory_lock(?)", migrationLock).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
			defer conn.Exec("SELECT pg_advisory_unlock(?)", migrationLock)
		}
		// Checked first rather than CREATE TABLE IF NOT EXISTS, which
		// needs the right to create tables even when there is nothing to
		// create: the application role, which has no such right, can then
		// run migrate on an up-to-date database as a no-op.
		if !conn.Migrator().HasTable("schema_migrations") {
			if err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY,
				name varchar(200) NOT NULL,
				applied_at varchar(40) NOT NULL)`).Error; err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
		}
		var done []int
		if err := conn.Raw("SELECT version FROM schema_migrations").Scan(&done).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		have := map[int]bool{}
		for _, v := range done {
			have[v] = true
		}
		for _, m := range all {
			if have[m.Version] {
				continue
			}
			err := s.apply(conn, m)
			if err != nil {
				return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	return applied, err
}

// foreignKeysOff marks a SQLite migration that rebuilds a table other tables
// reference. SQLite ignores PRAGMA foreign_keys inside a transaction, so the
// runner turns them off around it, and checks every reference before it
// turns them on again.
const foreignKeysOff = "-- migrate: foreign-keys-off"

// migrationSteps are Go steps that run right after a migration's SQL, in its
// transaction: work that needs the store's own code, kept in one place.
var migrationSteps = map[int]func(tx *gorm.DB) error{
	// Chain the audit entries written before the chain existed, with the
	// one implementation of the canonical encoding.
	12: chainExisting,
}

// apply runs one migration in its own transaction and records it.
func (s *Store) apply(conn *gorm.DB, m Migration) error {
	run := func() error {
		return conn.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(m.SQL).Error; err != nil {
				return err
			}
			if step := migrationSteps[m.Version]; step != nil {
				if err := step(tx); err != nil {
					return err
				}
			}
			if s.dialect == SQLite && strings.HasPrefix(m.SQL, foreignKeysOff) {
				var broken []map[string]any
				if err := tx.Raw("PRAGMA foreign_key_check").Scan(&broken).Error; err != nil {
					return fmt.Errorf("check foreign keys: %w", err)
				}
				if len(broken) > 0 {
					return fmt.Errorf("the migration leaves %d broken references: %v", len(broken), broken)
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, s.Now().Format("2006-01-02T15:04:05.000000Z")).Error
		})
	}
	if s.dialect != SQLite || !strings.HasPrefix(m.SQL, foreignKeysOff) {
		return run()
	}
	if err := conn.Exec("PRAGMA foreign_keys = OFF").Error; err != nil {
		return fmt.Errorf("turn foreign keys off: %w", err)
	}
	err := run()
	if onErr := conn.Exec("PRAGMA foreign_keys = ON").Error; onErr != nil && err == nil {
		err = fmt.Errorf("turn foreign keys on: %w", onErr)
	}
	return err
}
