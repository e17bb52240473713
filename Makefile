# Cairn build and test entry points. `make test` is what CI runs.
GO ?= go

.PHONY: build test test-short test-ui vet fmt bench bench-go fuzz test-tlog lint openapi

build:
	$(GO) build -o bin/cairn ./cmd/cairn

# The whole suite: formatting, vet, and every test under the race detector.
test:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# tlog-tiles and tlog-witness interop with tessera (fsck, client),
# omniwitness and litewitness: a module of its own (internal/tlogtest), so
# that their dependencies stay out of go.mod. litewitness and witnessctl are
# binaries found through CAIRN_TORCHWOOD_BIN (.ci/run builds them).
# staticcheck 2026.1, pinned by its module version (the proxy may refuse the
# release-name query "@2026.1"); CI runs it after make test.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.7.0
lint:
	$(GO) run $(STATICCHECK) ./...

test-tlog:
	cd internal/tlogtest && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 20m ./...

# The PostgreSQL store: conformance suite, store tests, replicas, rolling
# restart and copy, against $(CAIRN_TEST_POSTGRES) (the local server by default).
CAIRN_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
test-postgres:
	CAIRN_TEST_POSTGRES='$(CAIRN_TEST_POSTGRES)' $(GO) test -race -count=1 -timeout 10m ./internal/storetest/ ./internal/postgres/ ./cmd/cairn/ -run 'Postgres|SQLite|Replica|Rolling|Copy|Evidence|Migrate|Writer'

# PostgreSQL figures: durable submits through the service (one replica) and
# the audit queries at 1,000,000 jobs (seeded once into schema cairn_bench_1m).
bench-postgres:
	CAIRN_TEST_POSTGRES='$(CAIRN_TEST_POSTGRES)' $(GO) test -run '^$$' -bench BenchmarkSubmit -benchtime 20000x ./internal/postgres/
	CAIRN_TEST_POSTGRES='$(CAIRN_TEST_POSTGRES)' $(GO) test -run '^$$' -bench BenchmarkAudit1M -benchtime 1x -timeout 60m ./internal/postgres/

# Native Go fuzzing, FUZZTIME per target (CI runs it after make test; see
# docs/adr/0021-fuzzing-in-ci.md). go test -fuzz takes one target per run:
# .ci/fuzz-one runs go test -run '^$$' -fuzz '^<name>$$' <flags> <package>.
# Seeds: each package's testdata/fuzz/<name>/ plus the f.Add seeds; a
# failing input is written there and fails the run. -fuzzminimizetime bounds
# the minimisation of each new input, which otherwise eats short runs.
FUZZTIME ?= 10s
FUZZ = GO='$(GO)' ./.ci/fuzz-one
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 500x -parallel 2
fuzz:
	$(FUZZ) FuzzDecode ./internal/http/ $(FUZZFLAGS)
	$(FUZZ) FuzzWriteRoutes ./internal/http/ $(FUZZFLAGS)
	$(FUZZ) FuzzCompile ./internal/policy/ $(FUZZFLAGS)
	$(FUZZ) FuzzParse ./internal/workflow/ $(FUZZFLAGS)
	$(FUZZ) FuzzUnmarshalBundle ./ledger/bundle/ $(FUZZFLAGS)
	$(FUZZ) FuzzVerifyBundle ./verify/ $(FUZZFLAGS)
	$(FUZZ) FuzzVerifyMutated ./verify/ $(FUZZFLAGS)
	$(FUZZ) FuzzTransformJCSMatchesJCS ./ledger/ $(FUZZFLAGS)
	$(FUZZ) FuzzCanonicalMatchesJCS ./ledger/ $(FUZZFLAGS)
	$(FUZZ) FuzzComputeJobHash ./ledger/ $(FUZZFLAGS)
	$(FUZZ) FuzzEnvelopeBody ./ledger/ $(FUZZFLAGS)
	$(FUZZ) FuzzParseEntry ./ledger/ $(FUZZFLAGS)
	$(FUZZ) FuzzCheck ./internal/scan/ $(FUZZFLAGS)
	$(FUZZ) FuzzAPIEventFromLedger . $(FUZZFLAGS)
	$(FUZZ) FuzzParseConfig ./internal/mcpgw/ $(FUZZFLAGS)
	$(FUZZ) FuzzResourceFor ./internal/mcpgw/ $(FUZZFLAGS)
	$(FUZZ) FuzzCallIDs ./internal/mcpgw/ $(FUZZFLAGS)
	$(FUZZ) FuzzSyslogCEFRoundTrip ./internal/forward/ $(FUZZFLAGS)

test-short:
	$(GO) test -short -count=1 ./...

# The console's browser tests with their figures (first paint, bytes per page).
test-ui:
	$(GO) test -race -count=1 -v -run 'TestBrowser' ./internal/ui/

vet:
	$(GO) vet ./...

# internal/http/openapi.json from the route table, the Go types and the
# prose overlay internal/http/openapi.overlay.yaml (ADR 0052).
openapi:
	$(GO) generate ./internal/http/

fmt:
	gofmt -w $$(git ls-files '*.go')

# End-to-end load figures over HTTP (see BENCHMARKS.md).
bench: build
	./bin/cairn bench submit --clients 32 --duration 10s
	./bin/cairn bench submit --clients 32 --rate 500 --duration 10s
	./bin/cairn bench audit --seed 100000
	$(GO) test -run '^$$' -bench BenchmarkWorkflowLinear10 -benchtime 300x ./internal/http/
	$(GO) test -run '^$$' -bench BenchmarkWorkflowConcurrent -benchtime 1x ./internal/http/

# Go micro-benchmarks (policy evaluation, scanners, verifier).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/policy/ ./internal/scan/ ./ledger/... ./verify/ ./internal/workflow/
