// Package drills holds fault drills: tests that run the real orchestrator
// binary (`api` and `worker` processes), a Temporal dev server with its state
// on disk, PostgreSQL with row-level security in force and the Chatwoot
// stand-in, break one of them under load (SIGKILL, SIGTERM, cut database
// connections, an unreachable Chatwoot, a restarted Temporal server) and then
// check the same invariants after every drill: every escalation reaches its
// final state, exactly one audit row per transition, exactly one Chatwoot
// message of each kind, and no consultation without an approval.
//
// `go test ./internal/drills/` runs the fast variants (fewer escalations,
// shorter outages); `make drills` sets DRILLS=full for the full ones. The
// tests need TEMPORAL_CLI (the Makefile sets it) and PostgreSQL at
// TEST_DATABASE_URL; without TEMPORAL_CLI they skip loudly, or fail when
// CI=true.
//
// The package has no code outside its tests.
package drills
