package loadtest

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// Markdown writes the report.
func (r *Report) Markdown(w io.Writer, command string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Results of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("- machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel())
	p("- command: `%s`\n", command)
	p("- Temporal: CLI dev server in memory (same server for every shape); orchestrator: `orchestrator dev` child process on SQLite;\n")
	p("  Chatwoot stand-in answering in ~3 ms, every notification really sent\n\n")
	p("| shape | concurrency | completed | errors | rate (esc/s) | e2e p50 ms | p95 | p99 |\n|---|---|---|---|---|---|---|---|\n")
	for _, x := range []*Result{r.Product, r.Naive, r.Floor, r.ProductAlone, r.NaiveAlone, r.FloorAlone} {
		if x == nil {
			continue
		}
		p("| %s | %d | %d | %d | %.1f | %s | %s | %s |\n", x.Name, x.Concurrency, x.Completed, x.Errors, x.Rate(),
			ms(x.E2E.quantile(.5)), ms(x.E2E.quantile(.95)), ms(x.E2E.quantile(.99)))
	}
	if r.Product != nil {
		p("\nProduct steps at %d concurrent: create p50 %s / p95 %s / p99 %s ms; decide p50 %s / p95 %s / p99 %s ms.\n",
			r.Product.Concurrency,
			ms(r.Product.Steps["create"].quantile(.5)), ms(r.Product.Steps["create"].quantile(.95)), ms(r.Product.Steps["create"].quantile(.99)),
			ms(r.Product.Steps["decide"].quantile(.5)), ms(r.Product.Steps["decide"].quantile(.95)), ms(r.Product.Steps["decide"].quantile(.99)))
	}
	for _, x := range []*Result{r.Product, r.Naive, r.Floor, r.ProductAlone, r.NaiveAlone, r.FloorAlone} {
		if x != nil && x.FirstError() != "" {
			p("First error of %s at %d concurrent: `%s`\n", x.Name, x.Concurrency, x.FirstError())
		}
	}
	if r.Product != nil {
		p("Consultation visible after the decision answered: p50 %s / p99 %s ms.\n",
			ms(r.Product.Steps["visible"].quantile(.5)), ms(r.Product.Steps["visible"].quantile(.99)))
	}
	if r.ProductAlone != nil {
		p("Product steps alone: create p50 %s ms; decide p50 %s ms.\n",
			ms(r.ProductAlone.Steps["create"].quantile(.5)), ms(r.ProductAlone.Steps["decide"].quantile(.5)))
	}
	p("\n| ratio | value | target |\n|---|---|---|\n")
	if r.Product != nil && r.Naive != nil && r.Floor != nil {
		p("| product rate / naive rate | %s | ≥ 2× |\n", ratio(r.Product.Rate(), r.Naive.Rate()))
		p("| product rate / floor rate | %s | ≥ 0.5× |\n", ratio(r.Product.Rate(), r.Floor.Rate()))
		p("| product p50 / floor p50 (concurrent) | %s | |\n", ratio(float64(r.Product.E2E.quantile(.5)), float64(r.Floor.E2E.quantile(.5))))
	}
	if r.ProductAlone != nil && r.FloorAlone != nil {
		p("| product p50 / floor p50 (alone) | %s | ≤ 3× |\n", ratio(float64(r.ProductAlone.E2E.quantile(.5)), float64(r.FloorAlone.E2E.quantile(.5))))
	}
	if r.Read != nil {
		p("| read path p50: API / plain SQL | %s | ≤ 1.5× |\n", ratio(float64(r.Read.API.quantile(.5)), float64(r.Read.SQL.quantile(.5))))
	}
	p("\n- peak RSS of the orchestrator process under load: %.1f MiB (target < 150 MiB)\n", float64(r.PeakRSSBytes)/(1<<20))
	p("- Chatwoot messages posted during the product run (notes and customer links): %d\n", r.ChatwootMessages)
	if r.Read != nil {
		p("- read path: %d approvals across %d tenants in PostgreSQL (RLS on, app role unprivileged), %d requests of 50 rows:\n",
			r.Read.Rows, r.Read.Tenants, r.Read.Requests)
		p("  API p50 %s ms / p99 %s ms; plain SQL p50 %s ms / p99 %s ms\n",
			ms(r.Read.API.quantile(.5)), ms(r.Read.API.quantile(.99)), ms(r.Read.SQL.quantile(.5)), ms(r.Read.SQL.quantile(.99)))
	}
}

func cpuModel() string {
	b, err := readFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(b, "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
