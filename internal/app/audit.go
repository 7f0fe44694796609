package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// errAuditBroken is a chain that does not verify: the command exits 1.
var errAuditBroken = errors.New("audit: the audit trail does not verify")

const auditUsage = `Usage: orchestrator audit verify [--tenant T] [--file export.jsonl] [--json] [--no-anchors]

Walks each tenant's audit hash chain and reports the first broken entry
(changed, missing, reordered). From the database (DATABASE_URL): every
tenant, or the one named, compared also with the anchors the tenant's ended
escalations recorded in Temporal when Temporal answers. With --file: an
export (GET /api/audit/export; "-" reads stdin), offline, without any
configuration. Exit status 0 when everything verifies, 1 otherwise.
`

// runAudit is `orchestrator audit verify`, for operators, cron and auditors.
func runAudit(ctx context.Context, env config.Getenv, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return errors.New("audit: the only subcommand is verify")
	}
	fs := newFlagSet("audit verify", stderr)
	tenant := fs.String("tenant", "", "verify this tenant only (default: every tenant)")
	file := fs.String("file", "", "verify an export (JSON Lines) instead of the database; - reads stdin")
	asJSON := fs.Bool("json", false, "print one JSON result per tenant instead of text")
	noAnchors := fs.Bool("no-anchors", false, "do not read the anchors in Temporal (the database chain only)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var results []*store.AuditVerification
	var err error
	if *file != "" {
		results, err = verifyAuditFile(*file, *tenant)
	} else {
		results, err = verifyAuditDatabase(ctx, env, *tenant, !*noAnchors, stderr)
	}
	if err != nil {
		return err
	}
	valid := true
	for _, v := range results {
		valid = valid && v.Valid
		if *asJSON {
			b, _ := json.Marshal(v)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintln(stdout, describeVerification(v))
	}
	if !valid {
		return errAuditBroken
	}
	return nil
}

// describeVerification is one line for people.
func describeVerification(v *store.AuditVerification) string {
	anchors := fmt.Sprintf("%d anchors checked", v.AnchorsChecked)
	if v.AnchorsSkipped != "" {
		anchors = "anchors not checked: " + v.AnchorsSkipped
	}
	if !v.Valid {
		return fmt.Sprintf("BROKEN %s at seq %d: %s (%s); %d entries verified before it; %s",
			v.TenantID, *v.BrokenSeq, v.Reason, v.Detail, v.Entries, anchors)
	}
	from := ""
	if v.FromSeq > 1 {
		from = fmt.Sprintf(" (seq %d to %d: a range, its first prevHash taken as given)", v.FromSeq, v.Head.Seq)
	}
	return fmt.Sprintf("ok %s: %d entries%s, head seq %d hash %s; %s", v.TenantID, v.Entries, from, v.Head.Seq, v.Head.Hash, anchors)
}

// verifyAuditFile checks an export, one tenant's records in file order
// (several tenants' exports concatenated are checked one by one).
func verifyAuditFile(path, tenant string) ([]*store.AuditVerification, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		defer f.Close()
		r = f
	}
	byTenant := map[string][]store.AuditRecord{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec store.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("audit: %s line %d: %w", path, line, err)
		}
		if tenant != "" && rec.TenantID != tenant {
			continue
		}
		if _, ok := byTenant[rec.TenantID]; !ok {
			order = append(order, rec.TenantID)
		}
		byTenant[rec.TenantID] = append(byTenant[rec.TenantID], rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", path, err)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("audit: %s holds no entries", path)
	}
	var out []*store.AuditVerification
	for _, t := range order {
		v, err := store.VerifyAuditRecords(byTenant[t])
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
		v.AnchorsSkipped = "an export holds none"
		out = append(out, v)
	}
	return out, nil
}

// verifyAuditDatabase checks the chains in the database and, when Temporal
// answers, the anchors there.
func verifyAuditDatabase(ctx context.Context, env config.Getenv, tenant string, anchors bool, stderr io.Writer) ([]*store.AuditVerification, error) {
	cfg, err := load(env, config.ModeTool)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	s, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	tenants := []string{tenant}
	if tenant == "" {
		if tenants, err = s.AuditTenants(ctx); err != nil {
			return nil, err
		}
	}
	var tc client.Client
	skipped := "--no-anchors"
	if anchors {
		dialCtx, cancel := context.WithTimeout(ctx, temporalDialTimeout)
		tc, err = dialTemporal(dialCtx, cfg, log, nil)
		cancel()
		if err != nil {
			tc = nil
			skipped = "Temporal did not answer at " + cfg.TemporalAddress
			fmt.Fprintf(stderr, "audit: anchors not checked: %v\n", err)
		} else {
			defer tc.Close()
		}
	}
	var out []*store.AuditVerification
	for _, t := range tenants {
		scope := store.ScopeOf(t)
		v, err := s.VerifyAudit(ctx, scope, t)
		if err != nil {
			return nil, fmt.Errorf("audit: verify %s: %w", t, err)
		}
		if tc == nil {
			v.AnchorsSkipped = skipped
		} else if anchors, err := contract.AuditAnchors(ctx, tc, cfg.TemporalTaskQueue, t, contract.MaxAnchors); err != nil {
			v.AnchorsSkipped = "Temporal did not answer"
			fmt.Fprintf(stderr, "audit: anchors of %s not checked: %v\n", t, err)
		} else if err := s.CheckAnchors(ctx, scope, v, anchors); err != nil {
			return nil, fmt.Errorf("audit: anchors of %s: %w", t, err)
		}
		out = append(out, v)
	}
	return out, nil
}
