# healer's front door. `make test` is what CI runs (see .ci/run).

GO        ?= go
PKGS      := ./...
BIN       := bin
TOOLS     := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
# How long `make fuzz` runs each fuzz target, and `make bench` each benchmark.
FUZZTIME  ?= 20s
BENCHTIME ?= 1s

.PHONY: all build test integration soak bench bench-executor fuzz lint proto demo clean

all: build

## build: compile every binary into ./bin
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

## demo: an emulated Mesos cluster of 10 agents and healer-scheduler in execute mode, admin API on http://127.0.0.1:7070 (Ctrl-C stops it)
demo: build
	$(BIN)/healer-demo --bin=$(BIN)

## test: unit, scenario, property, conformance and integration tests, race detector on
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

## integration: the end-to-end suites against the Mesos emulator and a real ZooKeeper, verbose
integration:
	$(GO) test -race -count=1 -timeout 20m -v ./integration/...

## soak: the fault-injection soak (docs/soak.md): SOAK_DURATION of random faults (default 10m),
## reproducible with SEED=<the seed a run printed>; fails on any broken promise
SOAK_DURATION ?= 10m
SEED ?=
soak:
	SOAK_DURATION=$(SOAK_DURATION) SEED=$(SEED) $(GO) test -count=1 -timeout 2h -v -run '^TestSoak$$' ./integration/soak/

## bench: benchmarks, including the coordinator's hot paths, the 35,000-agent scale run (docs/scale.md)
## and the emulator's 10,000-agent scale run
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m $(PKGS)

## bench-executor: healer-executor's footprint: a 10-check monitor at a 10 s interval for 5 minutes
## (fails over 20 MB RSS or 1% of one core); `make bench` skips it to stay short
bench-executor:
	HEALER_BENCH_FOOTPRINT=5m $(GO) test -run '^$$' -bench BenchmarkMonitorFootprint -benchtime 1x -timeout 15m -v ./integration/executor/

## fuzz: a short run of every fuzz target (seeds live in each package's testdata/fuzz)
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## lint: gofmt, go vet, staticcheck, and a tidy go.mod
lint: $(TOOLS)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(TOOLS)/staticcheck $(PKGS)
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## proto: regenerate the gogo/protobuf code in proto/ and fail if the committed code differs
proto:
	./scripts/proto.sh

clean:
	rm -rf $(BIN) $(TOOLS)
