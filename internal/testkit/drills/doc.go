// Package drills holds fault drills: tests that run the real orchestrator
// binary (`api` and `worker` processes), PostgreSQL with row-level security
// in force and the Chatwoot stand-in, once on a Temporal dev server with its
// state on disk and once on a real Temporal cluster on PostgreSQL
// (internal/temporalcluster), break one of them under load (SIGKILL, SIGTERM, cut database
// connections, a database refusing the application, an unreachable
// Chatwoot, a restarted Temporal server) and then
// check the same invariants after every drill: every escalation reaches its
// final state, exactly one audit row per transition, exactly one Chatwoot
// message of each kind, and no consultation without an approval.
//
// `go test ./internal/drills/` runs the fast variants (fewer escalations,
// shorter outages); `make drills` sets DRILLS=full for the full ones. The
// tests need TEMPORAL_CLI, TEMPORAL_SERVER and TEMPORAL_SQL_TOOL (the
// Makefile sets them) and PostgreSQL at TEST_DATABASE_URL; without them they
// skip loudly, or fail when CI=true. On a real cluster the PostgreSQL cut
// also cuts the Temporal server's own connections.
//
// The refusing-database drill (TestDrillDatabaseRefuses) makes PostgreSQL
// refuse rather than hang, in three phases: the tables' owner revokes the
// application role's write privileges (creates and decisions still reach
// their workflows, whose every write fails with permission denied), then all
// its privileges, then PostgreSQL also refuses the processes' connections
// (they reach it through a proxy in the test that stops listening). The
// refusal meets every write of an escalation: records of escalations created
// during it, decisions sent during it, deadlines inside it and tenant-policy
// reminders due inside it. The owner then grants the privileges back with
// `orchestrator migrate`, as an operator would, and the invariants also
// require expired escalations expired, each reminder audited and posted
// exactly once, and no waiting approval without a running workflow. The full
// variant refuses for 75 s, longer than the workflows' one-minute budget for
// a local write; the fast one for 21 s.
//
// The events drill (TestDrillEventsWorkerAndReceiverKilled) subscribes a
// receiver that verifies with the Standard Webhooks reference library,
// takes it down and SIGKILLs the worker mid-delivery under load, and
// requires every event the outbox recorded received, every delivery
// delivered, and an event received twice to carry one webhook-id and one
// body.
//
// The package has no code outside its tests.
package drills
