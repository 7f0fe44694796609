# The two commands: `make run` and `make test`. Everything they need is
# installed here, from the Go module proxy, and cached outside the checkout.

SHELL := /bin/bash
GO ?= go

TEMPORAL_CLI_VERSION := v1.5.1
TOOLS_DIR ?= $(HOME)/.cache/orchestrator/tools
TEMPORAL_CLI ?= $(TOOLS_DIR)/temporal-$(TEMPORAL_CLI_VERSION)/temporal
# The linter beyond gofmt and vet, built once like the CLI.
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
# A real Temporal cluster (frontend/history/matching/worker on PostgreSQL, SQL
# visibility) for the cluster end-to-end test: the server and its schema tool.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_SERVER ?= $(TOOLS_DIR)/temporal-server-$(TEMPORAL_SERVER_VERSION)/server
TEMPORAL_SQL_TOOL ?= $(TOOLS_DIR)/temporal-server-$(TEMPORAL_SERVER_VERSION)/sql
# The server module's source (schemas, config), from the module cache; expanded
# only where used (the test recipe), fetched by `go mod download` when missing.
TEMPORAL_SERVER_SOURCE ?= $(shell $(GO) mod download -json go.temporal.io/server@$(TEMPORAL_SERVER_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p')
CLUSTER_ENV = TEMPORAL_SERVER=$(TEMPORAL_SERVER) TEMPORAL_SQL_TOOL=$(TEMPORAL_SQL_TOOL) TEMPORAL_SERVER_SOURCE=$(TEMPORAL_SERVER_SOURCE)

# promtool checks and unit-tests the alert rules of deploy/prometheus (check-alerts),
# built once like the CLI; the module version v0.X.Y is Prometheus 3.X.Y.
PROMTOOL_VERSION := v0.316.0
PROMTOOL ?= $(TOOLS_DIR)/promtool-$(PROMTOOL_VERSION)/promtool

DATA_DIR ?= .data
FUZZTIME ?= 1m
TEST_FUZZTIME ?= 3s

# The API contract as generated clients and linters read it (api/contracttest):
# openapi-typescript, openapi-fetch, tsc, Redocly and Spectral, pinned by its
# package-lock.json and installed once per lock file with npm (Node.js 20+).
CONTRACT_LOCK := api/contracttest/package-lock.json
CONTRACT_MODULES ?= $(TOOLS_DIR)/contract-$(shell sha256sum $(CONTRACT_LOCK) 2>/dev/null | cut -c1-12)/node_modules

.PHONY: run build test lint tools cluster-tools vet fmt-check fuzz bench clean help drills contract soak check-alerts

help:
	@echo "make run    - the whole system on embedded defaults (Temporal dev server + UI, SQLite, worker, API, dev OIDC issuer)"
	@echo "make test   - every test (needs PostgreSQL at TEST_DATABASE_URL, default 127.0.0.1:5432/test)"
	@echo "make build  - bin/orchestrator"
	@echo "make fuzz   - run every fuzz target longer (FUZZTIME=1m)"
	@echo "make bench  - benchmarks and the load harness on the dev server and a real cluster (docs/benchmarks.md)"
	@echo "make soak   - the soak: phases of load through the API on the dev server, then a real cluster; fails on a phase that completes nothing or a 503"

build:
	$(GO) build -trimpath -o bin/orchestrator .

# The Temporal CLI (dev server and UI) is built once from the module proxy
# and reused; delete $(TOOLS_DIR) to rebuild it.
tools: $(TEMPORAL_CLI)

$(TEMPORAL_CLI):
	@echo "Building the Temporal CLI $(TEMPORAL_CLI_VERSION) once (about 4 minutes) into $(dir $@)"
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# The Temporal server and its SQL schema tool for the cluster end-to-end test
# (internal/testkit/clustertest), built once the same way (about 10 minutes together
# on 2 cores; `make test` only). The module's source (schemas, config) comes
# from the module cache; `go mod download` fetches it again if it was cleaned.
cluster-tools: $(TEMPORAL_SERVER) $(TEMPORAL_SQL_TOOL)

$(TEMPORAL_SERVER):
	@echo "Building the Temporal server $(TEMPORAL_SERVER_VERSION) once (about 10 minutes on 2 cores) into $(dir $@)"
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)

$(TEMPORAL_SQL_TOOL):
	@echo "Building the Temporal SQL schema tool $(TEMPORAL_SERVER_VERSION) once (seconds after the server, whose packages it shares) into $(dir $@)"
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)

$(PROMTOOL):
	@echo "Building promtool $(PROMTOOL_VERSION) once (about 14 minutes of CPU: some 8 minutes on 2 idle cores, 42 measured next to five other builds) into $(dir $@)"
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# The alert rules: valid, and each alert firing and quiet where its unit tests say
# (deploy/prometheus/alerts_test.yml). The metric names they use are checked against
# a running orchestrator by internal/app's TestAlertsAndDashboardUseExportedMetrics.
check-alerts: $(PROMTOOL)
	$(PROMTOOL) check config --syntax-only deploy/prometheus/prometheus.yml
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	$(PROMTOOL) test rules deploy/prometheus/alerts_test.yml

run: tools build
	@mkdir -p $(DATA_DIR)
	TEMPORAL_CLI=$(TEMPORAL_CLI) DATA_DIR=$(DATA_DIR) LOG_FORMAT=$${LOG_FORMAT:-text} CREATE_RATE_LIMIT=$${CREATE_RATE_LIMIT:-0} ./bin/orchestrator dev

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod says which dependencies the code imports itself: tidy, or lint fails.
lint: $(STATICCHECK)
	$(GO) mod tidy -diff
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

API_FUZZ   := FuzzCreateApprovalBody FuzzDecideBody FuzzCreateAuditBody FuzzCreateConsultationBody FuzzListQuery FuzzPathIDs FuzzAuthorizationHeader FuzzPutPolicyBody FuzzCreateSubscriptionBody FuzzUpdateSubscriptionBody
STORE_FUZZ := FuzzDecodeCursor FuzzValidTenantID FuzzScopeOf
AUTH_FUZZ  := FuzzResolveTenants FuzzParseBearer

test: tools cluster-tools fmt-check vet lint contract check-alerts
	TEMPORAL_CLI=$(TEMPORAL_CLI) $(CLUSTER_ENV) $(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

contract: $(CONTRACT_MODULES)
	bash api/contracttest/check.sh $(abspath $(CONTRACT_MODULES))

$(CONTRACT_MODULES): $(CONTRACT_LOCK)
	@command -v npm >/dev/null || { echo "make contract needs Node.js 20+ and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	@echo "Installing the contract tools once (about 2 minutes) into $(dir $@)"
	@mkdir -p $(dir $@)
	cp api/contracttest/package.json $(CONTRACT_LOCK) $(dir $@)
	cd $(dir $@) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Every fuzz target for FUZZTIME each (make test: a few seconds; make fuzz: a minute).
fuzz:
	@set -e; \
	for t in $(API_FUZZ); do echo "fuzz api $$t"; $(GO) test ./api -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME); done; \
	for t in $(STORE_FUZZ); do echo "fuzz store $$t"; $(GO) test ./internal/store -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME); done; \
	for t in $(AUTH_FUZZ); do echo "fuzz auth $$t"; $(GO) test ./internal/auth -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME); done

# The Go benchmarks of the hot handlers and activities, then the load harness:
# product vs the naive and floor baselines on the dev server and on a real
# Temporal cluster (internal/testkit/temporalcluster) in the same run, peak RSS, where
# the time goes (from the workflows' histories), memory with 2,000 waiting
# escalations and the replay cost of an evicted one, the read path on
# PostgreSQL. About 13 minutes on 2 cores with these windows. Not part of
# `make test`. Figures: docs/benchmarks.md; the issue's 10,000 waiting
# escalations: BENCH_FLAGS="-shapes=false -pending 10000".
BENCH_FLAGS ?= -duration 30s -concurrency 32 -pending 2000
bench: tools cluster-tools build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./api ./activities ./internal/store
	TEMPORAL_CLI=$(TEMPORAL_CLI) $(CLUSTER_ENV) $(GO) run ./internal/testkit/loadtest/cmd/loadtest -binary bin/orchestrator $(BENCH_FLAGS) -out docs/benchmark-results.md

# The soak (docs/benchmarks.md, "The stall"): SOAK_FLAGS phases of load
# through the HTTP API, back to back, on the dev server and then on a real
# cluster; fails if a phase completes no escalation or a create is answered
# 503, and keeps the diagnosis of such a phase. About 25 minutes with these
# flags; a short run: SOAK_FLAGS="-phases 3 -phase-duration 15s
# -concurrency 16 -cluster=false". Not part of `make test`.
SOAK_FLAGS ?= -phases 20 -phase-duration 30s -concurrency 32
soak: tools cluster-tools build
	TEMPORAL_CLI=$(TEMPORAL_CLI) $(CLUSTER_ENV) $(GO) run ./internal/testkit/loadtest/cmd/loadtest -soak -binary bin/orchestrator $(SOAK_FLAGS) -out docs/soak-results.md

clean:
	rm -rf bin

# Fault drills at full size (internal/testkit/drills): real api/worker processes,
# PostgreSQL and the Chatwoot stand-in, broken under load, each on a Temporal
# dev server on disk and on a real cluster. `make test` runs the same drills
# in their fast variant. DRILLS_SERVERS=devserver (or cluster) runs one side.
drills: tools cluster-tools
	DRILLS=full TEMPORAL_CLI=$(TEMPORAL_CLI) $(CLUSTER_ENV) $(GO) test -count=1 -timeout 90m -v ./internal/testkit/drills/
