# ransomeye-intel — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
# sqlc and goose are pinned in their own module, tools/go.mod, so that the
# importable module does not require their drivers. `go tool` takes no -tags,
# so goose is run with `go run` against the same module file.
TOOLS_MOD   := tools/go.mod
SQLC        := $(GO) tool -modfile=$(TOOLS_MOD) sqlc
# The goose command without the drivers of other databases: builds in seconds.
GOOSE_TAGS  := no_clickhouse,no_libsql,no_mssql,no_azuresql,no_mysql,no_sqlite3,no_vertica,no_ydb
GOOSE       := $(GO) run -modfile=$(TOOLS_MOD) -tags $(GOOSE_TAGS) github.com/pressly/goose/v3/cmd/goose
# golangci-lint has a module of its own, so its dependencies and sqlc's do
# not constrain each other's versions.
GOLANGCI_LINT := $(GO) tool -modfile=tools/golangci-lint/go.mod golangci-lint
TEST_FLAGS  ?=
PG_CONFIG   ?= $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_config) pg_config)
BENCH       ?= .
BENCH_FLAGS ?= -benchtime=1x
# intel version names the commit even where go build stamps none (git worktrees, -buildvcs=false).
BUILD_LDFLAGS := -X main.buildCommit=$(shell git rev-parse HEAD 2>/dev/null)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## The main job end to end: local PostgreSQL, migrate, partitions, real feeds, telemetry, file -> actor.
	$(GO) build -ldflags '$(BUILD_LDFLAGS)' -o bin/intel ./cmd/intel
	./bin/intel demo

.PHONY: build
build: ## Build the intel CLI into bin/intel.
	$(GO) build -ldflags '$(BUILD_LDFLAGS)' -o bin/intel ./cmd/intel

.PHONY: generate
generate: ## Regenerate db/gen from db/migrations and db/queries (sqlc pinned in tools/go.mod).
	$(GO) generate ./...

.PHONY: verify
verify: ## Fail if db/gen is stale or `go mod tidy` would change go.mod/go.sum or a tools module's.
	@echo "verify: generated code matches db/queries and db/migrations"
	@$(SQLC) diff -f sqlc.yaml || { echo "verify: db/gen is stale: run 'make generate' and commit db/gen" >&2; exit 1; }
	@echo "verify: go.mod and go.sum are tidy"
	@$(GO) mod tidy -diff || { echo "verify: go.mod/go.sum not tidy: run 'go mod tidy'" >&2; exit 1; }
	@for m in tools tools/golangci-lint; do \
		echo "verify: $$m/go.mod and $$m/go.sum are tidy"; \
		(cd $$m && $(GO) mod tidy -diff) || { echo "verify: $$m/go.mod/go.sum not tidy: run 'cd $$m && go mod tidy'" >&2; exit 1; }; \
	done

.PHONY: lint
lint: ## gofmt, go vet and golangci-lint (pinned in tools/golangci-lint/go.mod, rules in .golangci.yml).
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '^db/gen/' || true); \
	if [ -n "$$out" ]; then echo "gofmt would change:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

.PHONY: test
test: ## Run all tests with the race detector against a real PostgreSQL (started for you unless DATABASE_URL is set).
	$(GO) test -race -count=1 -timeout 20m $(TEST_FLAGS) ./...

# Tests that cannot hold on Citus, by design of the cluster, not of the
# code under test (docs/scale.md, "What make test-citus runs"): the
# recursive FindRelated (refused by Citus; its answers are compared with the
# level engine's on plain PostgreSQL), tests that read tableoid (a shard's
# name on Citus), create triggers on the distributed table, create login
# roles (the coordinator would need their passwords for the workers) or time
# lock waits or connection kills on one server.
CITUS_SKIP := TestFindRelated(Chain|EdgeCases|HubFanout|TelemetryWindow|Truncation|WalkSemantics)|TestCorpus|TestRelationsCollapsing|TestPendingRelationsResolve|TestAppendTelemetryCopyFailureStops|TestTelemetryWriterFailedGroup|TestRoles|TestEnsureMovesRowsOutOfTheDefaultPartition|TestEnsureRowWithNowLandsInTodaysPartition|TestEnsureBoundsAreUTC|TestEnsureUnderALongReader|TestEnsureRetriesATerminatedConnection|TestAppendTelemetrySurvivesServerKillingConnections

# The CLI's tests that need Citus (a worker fault on a cluster of their own).
CITUS_CLI := TestFrozenWorker

.PHONY: test-citus
test-citus: ## Run the store, partition and walk tests on a throw-away Citus cluster (coordinator + 2 workers; Citus from ../shared/citus).
	@test -f "$$($(PG_CONFIG) --pkglibdir)/citus.so" || { echo "test-citus: Citus is not installed: run ../shared/citus/install.sh as root" >&2; exit 1; }
	INTEL_TEST_CITUS=1 $(GO) test -race -count=1 -timeout 30m -skip '$(CITUS_SKIP)' $(TEST_FLAGS) ./internal/pgtest/ ./scaleout/ ./partman/ ./store/
	INTEL_TEST_CITUS=1 $(GO) test -race -count=1 -timeout 10m -run '$(CITUS_CLI)' $(TEST_FLAGS) ./cmd/intel/

.PHONY: fuzz
fuzz: ## Fuzz every Fuzz target for FUZZTIME (default 30s) and run the long reliability tests (TestLong*, INTEL_LONG=1).
	FUZZTIME=$(or $(FUZZTIME),30s) scripts/fuzz.sh

.PHONY: bench
bench: ## Run the benchmarks and print their figures and ratios (BENCH=regexp, BENCH_FLAGS=...).
	$(GO) test -run '^$$' -bench '$(BENCH)' $(BENCH_FLAGS) -timeout 60m ./...

.PHONY: bench-load
bench-load: ## Feed loads side by side: the base commit (BASE, default merge-base with main) against the working tree, best of RUNS.
	scripts/bench-load.sh

SCALE_FLAGS ?=
.PHONY: bench-scale
bench-scale: ## Sustained load: 7 simulated days, concurrent writers and walks (reduced scale; SCALE_FLAGS='-agents 50000 -rows-per-day N').
	INTEL_BENCH_SCALE=1 $(GO) test -run '^$$' -bench '^BenchmarkSustainedLoad$$' -benchtime=1x -timeout 180m ./internal/workload -args $(SCALE_FLAGS)

.PHONY: bench-telemetry-cli
bench-telemetry-cli: ## intel ingest telemetry FILE vs psql \copy of the same edge rows, both shapes of issue 15, best of 3 (INTEL_BENCH_CLI_SCALE, INTEL_BENCH_ROUNDS).
	$(GO) test -run '^$$' -bench BenchmarkIngestTelemetryCLI -benchtime=1x -timeout 90m ./cmd/intel/

.PHONY: migrate
migrate: ## Migrate DATABASE_URL with the plain goose CLI (as a release pipeline does). GOOSE_CMD=status|down|...
	@test -n "$$DATABASE_URL" || { echo "migrate: set DATABASE_URL=postgres://user:pass@host:5432/db" >&2; exit 2; }
	$(GOOSE) -dir db/migrations postgres "$$DATABASE_URL" $(or $(GOOSE_CMD),up)
