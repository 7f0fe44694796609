package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

// The handler the processes really serve (with /metrics and every webhook)
// registers exactly the operations api/openapi.json documents.
func TestServedRoutesMatchTheContract(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(dir, "db.sqlite"), "DATA_DIR": dir}
	cfg, err := config.Load(config.ModeDev, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	s, err := openStore(ctx, cfg, log, true, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tel, err := newTelemetry(ctx, cfg, nil, "orchestrator-test", log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newAPIHandler(cfg, s, nil, nil, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapitest.Load(api.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	var routes [][2]string
	for _, r := range h.(*gin.Engine).Routes() {
		routes = append(routes, [2]string{r.Method, openapitest.GinPath(r.Path)})
	}
	undocumented, unregistered := doc.CompareRoutes(routes)
	if len(undocumented) > 0 || len(unregistered) > 0 {
		t.Fatalf("routes and contract differ:\n  served but undocumented: %v\n  documented but not served: %v", undocumented, unregistered)
	}
}
