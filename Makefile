# PickMyClass — `make help` lists the targets.
M        := github.com/pickmyclass/pickmyclass
MODULES  := pkg services/api services/scheduler services/worker services/asusim services/ops deploy/check chaos
SERVICES := api scheduler worker asusim ops
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOBIN    := $(shell go env GOPATH)/bin
# Every target that needs PostgreSQL and Redis gets them from this script.
SERVICES_ENV = eval "$$(deploy/localservices.sh)"

.PHONY: help build test test-short lint vet fmt tidy tidy-check proto proto-check demo bench sustained chaos fuzz clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the service binaries into bin/
	@mkdir -p bin
	@for s in $(SERVICES); do CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/$$s ./services/$$s || exit 1; done

test: ## run every test against real PostgreSQL, Redis and SMTP (installs what is missing)
	@$(SERVICES_ENV) && go test -race -count=1 -timeout 20m $(M)/...

test-short: ## the same without the race detector (faster)
	@$(SERVICES_ENV) && go test -count=1 -timeout 20m $(M)/...

vet: ## go vet every module
	go vet $(M)/...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

lint: vet ## gofmt check, go vet, the deploy files (Dockerfile build, Caddyfile, Prometheus, scripts), no tracked binaries
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@deploy/lint.sh

tidy: ## go mod tidy every module, then go work sync
	@for m in $(MODULES); do (cd $$m && go mod tidy) || exit 1; done
	go work sync

tidy-check: tidy ## fail if tidy changes anything
	git diff --exit-code -- '*.mod' '*.sum' go.work go.work.sum

proto: ## regenerate pkg/gen from proto/ (protoc + protoc-gen-go)
	@command -v protoc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler)
	@test -x $(GOBIN)/protoc-gen-go || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH=$(GOBIN):$$PATH proto/generate.sh

proto-check: proto ## fail if the generated code is stale
	git diff --exit-code -- pkg/gen

demo: build ## run the whole system locally on the simulated catalog (Ctrl-C stops it)
	@$(SERVICES_ENV) && deploy/demo.sh

bench: ## measure throughput, latency and memory into docs/BENCHMARKS.md (a few minutes; FULL=1 for the long runs)
	@$(SERVICES_ENV) && go run ./bench $(if $(FULL),-full) -out docs/BENCHMARKS.md

sustained: ## 100,000 sections and 5,000 users through 3 cycles under dashboard load (~6 min), into docs/SUSTAINED.md
	@$(SERVICES_ENV) && go run ./bench -only sustained -out docs/SUSTAINED.md

chaos: ## run the full fault scenarios (real processes; ~10 min) and write docs/RELIABILITY.md
	@$(SERVICES_ENV) && cd chaos && CHAOS_REPORT=$(CURDIR)/docs/RELIABILITY.md go test -tags chaos -count=1 -timeout 30m .

# Every fuzz target as package:Target; crashers land in that package's testdata/fuzz.
FUZZ_TARGETS := catalog/asu:FuzzParse check:FuzzDecode notify:FuzzVerify notify:FuzzFoldHeader stream:FuzzParseEntry stream:FuzzParseID \
	stream:FuzzParseDeadLetter envconf:FuzzReader envconf:FuzzRedact catalog/asusim:FuzzParseScenario
FUZZTIME ?= 30s

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@cd pkg && for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$pkg $$fn"; \
		go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done

clean: ## remove build output
	rm -rf bin
