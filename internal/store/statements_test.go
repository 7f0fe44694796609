package store_test

import (
	"context"
	"maps"
	"sync"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// statementLog is a StatementCounter that keeps the counts by kind, and by
// the origin the context carried.
type statementLog struct {
	mu       sync.Mutex
	kinds    map[string]int
	byOrigin map[string]int
}

type originKey struct{}

func (l *statementLog) count(ctx context.Context, kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds[kind]++
	if o, ok := ctx.Value(originKey{}).(string); ok {
		l.byOrigin[o]++
	}
}

func (l *statementLog) take() (map[string]int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, o := l.kinds, l.byOrigin
	l.kinds, l.byOrigin = map[string]int{}, map[string]int{}
	return k, o
}

// The store tells its counter of every statement it sends, by kind, with
// the caller's context: an escalation's record is a transaction of two
// inserts and a read back (and, on PostgreSQL, the tenant scope declared to
// row-level security), a read is one statement.
func TestStatementCounter(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			log := &statementLog{kinds: map[string]int{}, byOrigin: map[string]int{}}
			ctx := context.Background()
			s, err := store.Open(ctx, storetest.URL(t, d), store.Options{MaxOpenConns: 2, CountStatement: log.count})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			log.take() // the migrations' statements

			rctx := context.WithValue(ctx, originKey{}, "record")
			a := newApproval(s, "/teams/support", "count me")
			if _, _, err := s.RecordApproval(rctx, a, createdEntry(a)); err != nil {
				t.Fatal(err)
			}
			// The selects: the approval read back, the tenant's matching
			// subscriptions (events out), the audit chain's head.
			want := map[string]int{store.StatementBegin: 1, store.StatementInsert: 2, store.StatementSelect: 3, store.StatementCommit: 1}
			if d == store.Postgres {
				want[store.StatementSelect] += 2 // SELECT set_config (the tenant scope), the chain's advisory lock
			}
			kinds, origins := log.take()
			if !maps.Equal(kinds, want) {
				t.Errorf("record: %v, want %v", kinds, want)
			}
			if n := origins["record"]; n != total(want) {
				t.Errorf("record: %d statements carried the caller's context, want %d", n, total(want))
			}

			if _, err := s.GetApproval(ctx, store.ScopeOf("/teams/support"), a.ID); err != nil {
				t.Fatal(err)
			}
			if kinds, _ := log.take(); !maps.Equal(kinds, map[string]int{store.StatementSelect: 1}) {
				t.Errorf("read: %v, want one select", kinds)
			}

			// A refused write rolls back.
			dup := *a
			dup.ID = store.NewID()
			dup.Conversation = &store.Conversation{AccountID: 1, ConversationID: 7}
			other := dup
			other.ID = store.NewID()
			if _, _, err := s.RecordApproval(ctx, &dup, nil); err != nil {
				t.Fatal(err)
			}
			log.take()
			if _, _, err := s.RecordApproval(ctx, &other, nil); err == nil {
				t.Fatal("a second pending escalation of the conversation was recorded")
			}
			kinds, _ = log.take()
			if kinds[store.StatementBegin] != 1 || kinds[store.StatementRollback] != 1 || kinds[store.StatementCommit] != 0 {
				t.Errorf("refused write: %v, want a begin and a rollback", kinds)
			}
		})
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
