# Switchyard. The two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# A count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with "context deadline exceeded" when the
# time runs out mid-execution (golang/go#75804, fixed in Go 1.27).
FUZZTIME    ?= 150000x
# Minimising a new interesting input is bounded by a count too (by default
# it may take 60 s, with no executions counted meanwhile).
FUZZMINIMIZE ?= 20000x
TEST_TIMEOUT ?= 40m
CACHE       := .cache

.PHONY: help setup build demo bench bench-xds pollab soak test unit e2e check fmt vet lint generate generate-check generate-check-full fuzz clean console-screenshots

help:
	@echo "make demo    run Redis, two Trino clusters, the control plane and Envoy; query through the gateway"
	@echo "make test    install what is missing, run checks, unit, fuzz and end-to-end tests"
	@echo "make bench   measure Switchyard, plain Envoy, Trino Gateway and direct access; write docs/benchmarks.md"
	@echo "make bench-xds  how fast a drain reaches 1 to 50 Envoys of one control plane (10 to 1,000 clusters); write docs/benchmarks-xds.md"
	@echo "make soak    30 minutes of mixed load with a fault every 2 minutes; write docs/availability.md"
	@echo "make setup   install Envoy, Redis, Trino and the clients into $(CACHE)/ (idempotent)"
	@echo "make check   gofmt, go vet, staticcheck, generated files up to date"
	@echo "make fuzz    run every fuzz target for FUZZTIME (default $(FUZZTIME))"
	@echo "make console-screenshots   screenshots of the web console's pages into docs/console/"
	@echo "make pollab  A/B runs of Switchyard's Envoy features on poll latency (issue 17); write docs/benchmarks-polls.md"

setup:
	@deploy/setup.sh

build:
	$(GO) build -o bin/switchyard ./cmd/switchyard

# The demo installs only what it runs (no browser, Prometheus or benchmark
# peer).
demo:
	@deploy/setup.sh demo
	$(GO) build -o bin/demo ./cmd/demo
	bin/demo $(DEMO_ARGS)

# The side-by-side benchmark (about 15 minutes): docs/benchmarks.md and its plot.
bench: setup
	@deploy/setup.sh bench >/dev/null
	$(GO) run ./cmd/bench

# Configuration pushes to a fleet of Envoys (about 10 minutes):
# docs/benchmarks-xds.md and its plot. XDSBENCH_ARGS: e.g. -smoke, -sotw.
bench-xds: setup
	@deploy/setup.sh bench >/dev/null
	$(GO) run ./cmd/xdsbench $(XDSBENCH_ARGS)

# The poll-latency A/B experiment of issue 17 (about 17 minutes):
# docs/benchmarks-polls.md. POLLAB_ARGS=-smoke for a short check; POLLAB_ARGS="-trino -out
# docs/benchmarks-polls-trino.md" runs it over a real Trino instead of the simulator.
pollab: setup
	$(GO) run ./cmd/pollab $(POLLAB_ARGS)

# The availability soak (about 35 minutes): docs/availability.md. make test
# runs its short version (part of E2E_PKGS).
soak: setup
	$(GO) test -count=1 -v ./e2e/soak -run TestSoak -soak.duration=30m -soak.interval=2m -soak.report=../../docs/availability.md -timeout 40m

# The console's pages in a real Chromium against a real fleet (the e2e
# test TestConsoleInChromium), each page's screenshot into docs/console/.
console-screenshots: setup
	@mkdir -p docs/console
	SWITCHYARD_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -v -run '^TestConsoleInChromium$$' -timeout 10m ./e2e

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

BUF := github.com/bufbuild/buf/cmd/buf@v1.75.0

# Regenerate the protobuf code (buf and its plugins are pinned; building buf
# takes minutes the first time).
generate:
	$(GO) run $(BUF) lint
	$(GO) run $(BUF) generate
	sha256sum proto/switchyard/router/v1/router.proto > proto/switchyard/router/v1/router.proto.sha256

# Generated files must match their generators: the translator goldens, the
# committed Envoy bootstrap, and the protobuf code (generated from exactly
# the committed .proto: its hash is recorded by make generate).
generate-check:
	$(GO) test ./pkg/xds -run 'TestTranslateGolden|TestCommittedBootstrapIsGenerated' -count=1
	@sha256sum --quiet -c proto/switchyard/router/v1/router.proto.sha256 || { echo "proto changed: run make generate"; exit 1; }
	@grep -q 'protoc-gen-go v1.36.12' proto/switchyard/router/v1/router.pb.go || { echo "router.pb.go not made by the pinned protoc-gen-go: run make generate"; exit 1; }

# The full check: regenerate into a scratch copy and compare (builds buf).
generate-check-full:
	rm -rf .cache/gen && mkdir -p .cache/gen && cp -r proto .cache/gen/ && cp buf.yaml buf.gen.yaml .cache/gen/
	cd .cache/gen && $(GO) run $(BUF) generate
	diff -r proto .cache/gen/proto

check: fmt vet lint generate-check

# Each fuzz target gets FUZZTIME (executions, or a duration such as 30s) on
# top of its seed corpus.
FUZZ_TARGETS := ./pkg/trino:FuzzParsePath ./pkg/trino:FuzzParseSubmitResponse \
	./e2e/trinosim:FuzzPaths ./e2e/loadgen:FuzzDecodeResults \
	./pkg/sqlclass:FuzzClassify \
	./pkg/coordinator:FuzzParseLoad ./pkg/coordinator:FuzzParseInfo ./pkg/coordinator:FuzzParseQueries \
	./pkg/coordinator:FuzzParseQueryDetail ./pkg/cost:FuzzParseIOPlan \
	./pkg/store:FuzzParseQueryRoute ./pkg/admission:FuzzSessionHeaders ./pkg/extproc:FuzzMessageSequence \
	./pkg/trino:FuzzCoordinatorPrefix ./pkg/extrouter:FuzzHTTPAnswer ./pkg/extrouter:FuzzGRPCAnswer \
	./pkg/resubmit:FuzzParsePoll ./pkg/trino:FuzzSplitPrepared ./pkg/webui:FuzzRedirectAndCookie \
	./pkg/events:FuzzParse ./pkg/events:FuzzParseAsEncodingJSON ./pkg/governance:FuzzParse ./pkg/trino:FuzzQueueURI \
	./pkg/passwordfile:FuzzParse ./pkg/identity:FuzzVerify ./pkg/trinosize:FuzzParseSize \
	./pkg/querystats:FuzzFromDetail \
	./pkg/admission:FuzzDecodeFollowUp ./pkg/extproc:FuzzObserverStream ./pkg/trino:FuzzQueryIDTime
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn ($$pkg): $(FUZZTIME)"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE); \
	done

# Unit packages run under the race detector; the packages that start real
# components (Envoy, Redis, Trino, Trino Gateway, the bench runner) run
# without it, one package at a time (-p 1): each starts its own Trino
# clusters, and two at once on two cores starve each other (a restarted
# Trino took over 4 minutes while ./e2e and ./e2e/soak ran side by side).
E2E_PKGS  := ./e2e ./e2e/bench ./e2e/harness ./e2e/soak
UNIT_PKGS  = $$($(GO) list ./... | grep -v -x -e '.*/e2e' -e '.*/e2e/bench' -e '.*/e2e/harness' -e '.*/e2e/soak')

unit:
	$(GO) test -count=1 -race $(UNIT_PKGS)

e2e: setup
	$(GO) test -count=1 -v -p 1 -timeout $(TEST_TIMEOUT) $(E2E_PKGS)

# Everything, with go test output (-v) and a count of passed tests at the end.
test: setup check fuzz
	@mkdir -p $(CACHE); : > $(CACHE)/test.log; status=0; \
	$(GO) test -count=1 -race -v -timeout $(TEST_TIMEOUT) $(UNIT_PKGS) 2>&1 | tee -a $(CACHE)/test.log || status=1; \
	$(GO) test -count=1 -v -p 1 -timeout $(TEST_TIMEOUT) $(E2E_PKGS) 2>&1 | tee -a $(CACHE)/test.log || status=1; \
	echo "== go test: $$(grep -c -- '--- PASS' $(CACHE)/test.log) passed, $$(grep -c -- '--- FAIL' $(CACHE)/test.log) failed, $$(grep -c -- '--- SKIP' $(CACHE)/test.log) skipped (top-level and subtests)"; \
	exit $$status

clean:
	rm -rf bin $(CACHE)/demo $(CACHE)/test.log
