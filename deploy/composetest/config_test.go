package composetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

// notPassed are the binary's variables that compose leaves out on purpose.
var notPassed = map[string]string{
	"DATA_DIR":           "the image's working directory holds the default .data; PostgreSQL replaces SQLite",
	"DEV_ISSUER_ADDR":    "dev mode only",
	"TEMPORAL_CLI":       "dev mode only (the dev server it starts)",
	"TEMPORAL_UI_PORT":   "dev mode only (the dev server's UI)",
	"OIDC_DISCOVERY_URL": "OIDC_JWKS_URL is set, and the binary refuses both",
}

// migrationOnly are the binary's variables that only migrate and setup get: the long-running
// services must not hold the credentials of the role that owns the tables.
var migrationOnly = map[string]string{
	"DATABASE_OWNER_URL": "the role that owns the tables: only migrate and setup connect as it",
}

// migrationServices run the migrations.
var migrationServices = []string{"migrate", "setup"}

// getenv looks variables up in a service's environment, as the process would see them.
func getenv(s types.ServiceConfig) config.Getenv {
	return func(k string) (string, bool) {
		v, ok := s.Environment[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
}

func TestComposePassesEveryVariableTheBinaryReads(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	typ := reflect.TypeOf(config.Config{})
	for _, name := range appServices {
		s := service(t, p, name)
		for i := 0; i < typ.NumField(); i++ {
			key := typ.Field(i).Tag.Get("env")
			if key == "" || key == "-" {
				continue
			}
			_, passed := s.Environment[key]
			if why, only := migrationOnly[key]; only {
				if want := slices.Contains(migrationServices, name); passed != want {
					t.Errorf("service %s: passes %s = %v, want %v: %s", name, key, passed, want, why)
				}
				continue
			}
			if why, skip := notPassed[key]; skip {
				if passed {
					t.Errorf("service %s sets %s, which compose should leave out: %s", name, key, why)
				}
				continue
			}
			if !passed {
				t.Errorf("service %s does not pass %s: add it to x-orchestrator-environment in %s (with a ${%s:-…} "+
					"default) and to %s, or, if only dev mode reads it, to notPassed in this test", name, key, composeFile, key, envExample)
			}
		}
	}
}

// The binary validates its whole configuration at start; the compose environment must pass.
func TestComposeEnvironmentPassesTheBinarysValidation(t *testing.T) {
	modes := map[string]config.Mode{
		"api": config.ModeAPI, "worker": config.ModeWorker, "migrate": config.ModeTool, "setup": config.ModeTool,
	}
	e := exampleEnv(t)
	managed := exampleEnv(t)
	managed["DATABASE_URL"] = "postgres://orchestrator:s3cret@db.example.com:5432/orchestrator?sslmode=verify-full"
	managed["DATABASE_OWNER_URL"] = "postgres://orchestrator_owner:0wn3r@db.example.com:5432/orchestrator?sslmode=verify-full"
	managed["TEMPORAL_ADDRESS"] = "orchestrator.a1b2c.tmprl.cloud:7233"
	managed["TEMPORAL_TLS_CERT_FILE"] = "/run/secrets/orchestrator/temporal.crt"
	managed["TEMPORAL_TLS_KEY_FILE"] = "/run/secrets/orchestrator/temporal.key"
	for label, p := range map[string]*types.Project{
		"bundled": mustLoad(t, e),
		"managed": mustLoad(t, managed, composeFile, managedFile),
	} {
		for name, mode := range modes {
			c, err := config.Load(mode, getenv(service(t, p, name)))
			if err != nil {
				t.Errorf("%s: service %s: the binary would refuse to start: %v", label, name, err)
				continue
			}
			if driver, _, _ := config.SplitDatabaseURL(c.DatabaseURL); driver != "postgres" {
				t.Errorf("%s: service %s uses the %s driver", label, name, driver)
			}
		}
	}
}
