package loadtest

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

const mib = 1 << 20

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func yesNo(ok bool) string { return map[bool]string{true: "yes", false: "no"}[ok] }

// metOn is yesNo for a latency target, which a shape that completed nothing
// cannot meet (its quantiles read zero).
func metOn(ok bool, sampled ...*samples) string {
	for _, s := range sampled {
		if s.n() == 0 {
			return "no samples"
		}
	}
	return yesNo(ok)
}

// Markdown writes the report.
func (r *Report) Markdown(w io.Writer, command string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	o := r.Options
	p("## Results of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("- machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel())
	p("- command: `%s`; the whole run took %s\n", command, r.Finished.Sub(r.Started).Round(time.Second))
	p("- windows: %s per concurrent shape (%d concurrent), %s per shape alone, after a 3 s warm-up; the same on every server\n",
		o.Duration, o.Concurrency, o.Duration/3)
	p("- orchestrator: `orchestrator dev` as a child process on SQLite, the worker and the API in it; Chatwoot stand-in answering in ~3 ms, every notification really sent\n")
	for _, s := range r.Skipped {
		p("- not measured: %s\n", s)
	}
	for _, s := range r.Servers {
		s.markdown(w)
	}
	if len(r.Pending) > 0 {
		r.pendingMarkdown(w)
	}
	if r.Read != nil {
		p("\n### Read path on PostgreSQL\n\n")
		p("%d approvals across %d tenants (row-level security on, app role unprivileged), %d requests of a 50-row page:\n",
			r.Read.Rows, r.Read.Tenants, r.Read.Requests)
		p("API p50 %s ms / p99 %s ms; plain SQL p50 %s ms / p99 %s ms; **API / plain SQL at p50: %.2f×** (target ≤ 1.5×: %s)\n",
			ms(r.Read.API.quantile(.5)), ms(r.Read.API.quantile(.99)), ms(r.Read.SQL.quantile(.5)), ms(r.Read.SQL.quantile(.99)),
			ratioOf(float64(r.Read.API.quantile(.5)), float64(r.Read.SQL.quantile(.5))),
			yesNo(r.Read.API.quantile(.5) <= r.Read.SQL.quantile(.5)*3/2))
		if len(r.Read.Profiles) > 0 {
			p("\nProfiles of the orchestrator over the timed requests: %s\n", strings.Join(r.Read.Profiles, ", "))
		}
	}
}

func (s *ServerReport) markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n### On the %s (%s)\n\n", s.Name, s.Took.Round(time.Second))
	p("%s.\n\n", s.Detail)
	p("| shape | concurrency | completed | errors | cut by the window's end | rate (esc/s) | e2e p50 ms | p95 | p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	all := []*Result{s.Product, s.ProductEvents, s.Naive, s.Floor, s.ProductAlone, s.NaiveAlone, s.FloorAlone}
	for _, x := range all {
		if x == nil {
			continue
		}
		p("| %s | %d | %d | %d | %d | %.1f | %s | %s | %s |\n", x.Name, x.Concurrency, x.Completed, x.Errors, x.Cut, x.Rate(),
			ms(x.E2E.quantile(.5)), ms(x.E2E.quantile(.95)), ms(x.E2E.quantile(.99)))
	}
	for _, x := range all {
		if x != nil && x.FirstError() != "" {
			p("\nFirst error of %s at %d concurrent: `%s`\n", x.Name, x.Concurrency, clip(x.FirstError(), 300))
		}
	}
	pr, pa := s.Product, s.ProductAlone
	if pr == nil || pa == nil || s.Floor == nil || s.FloorAlone == nil || s.Naive == nil {
		return
	}
	q := func(r *Result, step string, f float64) string { return ms(r.Steps[step].quantile(f)) }
	p("\nProduct steps at %d concurrent: create p50 %s / p95 %s / p99 %s ms; decide p50 %s / p95 %s / p99 %s ms; "+
		"the consultation readable %s ms (p50) after the decision answered. Alone: create p50 %s ms, decide p50 %s ms.\n",
		pr.Concurrency, q(pr, "create", .5), q(pr, "create", .95), q(pr, "create", .99),
		q(pr, "decide", .5), q(pr, "decide", .95), q(pr, "decide", .99), q(pr, "visible", .5), q(pa, "create", .5), q(pa, "decide", .5))

	createC, floorC := pr.Steps["create"].quantile(.5), s.Floor.E2E.quantile(.5)
	decideA, floorA := pa.Steps["decide"].quantile(.5), s.FloorAlone.E2E.quantile(.5)
	p("\n| figure | value | target | met |\n|---|---|---|---|\n")
	p("| product rate / naive rate | %.2f× | ≥ 2× | %s |\n", ratioOf(pr.Rate(), s.Naive.Rate()), yesNo(pr.Rate() >= 2*s.Naive.Rate()))
	p("| product rate / floor rate | %.2f× | ≥ 0.5× | %s |\n", ratioOf(pr.Rate(), s.Floor.Rate()), yesNo(pr.Rate() >= s.Floor.Rate()/2))
	p("| create p50 / floor e2e p50, both at %d concurrent | %.2f× (%s vs %s ms) | ≤ 1× | %s |\n", pr.Concurrency,
		ratioOf(float64(createC), float64(floorC)), ms(createC), ms(floorC), metOn(createC <= floorC, pr.Steps["create"], s.Floor.E2E))
	p("| the same, issue 22's bound | %.2f× | ≤ 1.5× | %s |\n",
		ratioOf(float64(createC), float64(floorC)), metOn(2*createC <= 3*floorC, pr.Steps["create"], s.Floor.E2E))
	p("| decide p50 alone / floor e2e p50 alone | %.2f× (%s vs %s ms) | ≤ 2× | %s |\n",
		ratioOf(float64(decideA), float64(floorA)), ms(decideA), ms(floorA), metOn(decideA <= 2*floorA, pa.Steps["decide"], s.FloorAlone.E2E))
	p("| product e2e p50 / floor e2e p50, alone | %.2f× | | |\n", ratioOf(float64(pa.E2E.quantile(.5)), float64(floorA)))
	p("| peak RSS of the orchestrator under load | %.1f MiB | ≤ 150 MiB | %s |\n", float64(s.PeakRSSBytes)/mib, yesNo(s.PeakRSSBytes <= 150*mib))
	for _, b := range s.Budgets {
		if b.Name == BudgetApproved {
			t := b.Total()
			met, target := budgetTargetMet(b.Budget)
			p("| budget of an approved escalation up to its consultation's start (below) | %d events, %d workflow tasks | %s | %s |\n",
				t.Events, t.WorkflowTasks, target, yesNo(met))
		}
	}
	p("\nChatwoot messages posted (notes and customer links): %d.\n", s.ChatwootMessages)
	s.eventsMarkdown(p)
	if s.Product != nil && s.Product.Completed > 0 {
		p("\nThe orchestrator's store (SQLite, one connection) was waited for %d times over the concurrent product window, %s in all (%.1f ms per completed escalation).\n",
			s.PoolWaits, s.PoolWaited.Round(time.Millisecond), float64(s.PoolWaited)/float64(time.Millisecond)/float64(s.Product.Completed))
	}

	p("\nCPU used, in cores (the machine has %d), and per completed escalation or workflow:\n\n"+
		"| process | product, %d concurrent | naive, %d concurrent | floor, %d concurrent |\n|---|---|---|---|\n",
		runtime.NumCPU(), pr.Concurrency, s.Naive.Concurrency, s.Floor.Concurrency)
	cell := func(shares []CPUShare, r *Result, name string) string {
		for _, c := range shares {
			if c.Name != name {
				continue
			}
			if name == "idle" || name == "other processes" || r.Completed == 0 {
				return fmt.Sprintf("%.2f", c.Cores)
			}
			return fmt.Sprintf("%.2f (%.1f ms each)", c.Cores, c.Cores*r.Duration.Seconds()*1000/float64(r.Completed))
		}
		return "—"
	}
	for _, c := range s.CPU {
		p("| %s | %s | %s | %s |\n", c.Name, cell(s.CPU, pr, c.Name), cell(s.CPUNaive, s.Naive, c.Name), cell(s.CPUFloor, s.Floor, c.Name))
	}

	p("\nWhere the time goes, from the workflows' histories (medians over the sampled workflows, ms): a workflow task waits " +
		"(scheduled → started: the server's queues, matching, a busy worker), then runs on the worker (started → completed: workflow " +
		"code and local activities: the database writes, the inline Chatwoot attempts); activities likewise. *Client* is the latency " +
		"the client saw for the same step; client minus span is HTTP, the API and the round trips to the frontend.\n\n")
	p("| step | sampled | client | span in history | task wait | task run | activity wait | activity run | tasks | activities | events |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range s.Breakdowns {
		client := "—"
		if b.Client > 0 {
			client = ms(b.Client)
		}
		p("| %s: %s | %d | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %.1f |\n", b.Label, b.Step, b.Samples, client, ms(b.Span),
			ms(b.TaskWait), ms(b.TaskRun), ms(b.ActivityWait), ms(b.ActivityRun), b.Tasks, b.Activities, b.Events)
	}
	budgetMarkdown(w, s.Budgets)
	if len(s.Profiles) > 0 {
		p("\nProfiles over the concurrent windows (the orchestrator's pprof; the Temporal server's perf): %s\n", strings.Join(s.Profiles, ", "))
	}
}

func (r *Report) pendingMarkdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n### Waiting escalations and the workflow cache (dev server, all-in-one process)\n\n")
	p("Escalations created by %d clients and left waiting; RSS of the orchestrator process idle, settled (all waiting, every "+
		"notification sent) and at its peak over the phase; then decisions one at a time, the oldest (evicted from the cache: "+
		"the worker fetches the history and replays it) and the newest (still cached) alternately, each classed by the worker's "+
		"sticky-cache miss counter.\n\n", r.Options.Concurrency)
	p("| cache size | pending | errors | created in | RSS idle | RSS settled | peak RSS | heap in use / kept idle | goroutine stacks (goroutines) | cached executions | decide, cached p50 / p95 (n) | decide, evicted p50 / p95 (n) | peak ≤ 250 MiB |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.Pending {
		class := func(s *samples) string {
			if s.n() == 0 {
				return "— (0)"
			}
			return fmt.Sprintf("%s / %s ms (%d)", ms(s.quantile(.5)), ms(s.quantile(.95)), s.n())
		}
		p("| %s | %d | %d | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f / %.1f MiB | %.1f MiB (%.0f) | %.0f | %s | %s | %s |\n",
			cacheLabel(x.CacheSize), x.Created, x.Errors, x.CreateTook.Round(time.Second),
			float64(x.IdleRSS)/mib, float64(x.SettledRSS)/mib, float64(x.PeakRSS)/mib, x.HeapInuse/mib, x.HeapRetained/mib,
			x.StackInuse/mib, x.Goroutines, x.CachedExecutions,
			class(x.Cached), class(x.Evicted), yesNo(x.PeakRSS <= 250*mib))
	}
	for _, x := range r.Pending {
		if x.FirstError != "" {
			p("\nFirst error creating with cache %s: `%s`\n", cacheLabel(x.CacheSize), clip(x.FirstError, 300))
		}
		if len(x.Profiles) > 0 {
			p("\nHeap profile with %d pending, cache %s: %s\n", x.Created, cacheLabel(x.CacheSize), strings.Join(x.Profiles, ", "))
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
