# govnode build, test and codegen.
#
# The tools that generate code are pinned here and installed into ./.bin by
# the targets that need them, so `make proto` works on a fresh machine with
# only Go and the module proxy.

GO          ?= go
BIN         := $(CURDIR)/.bin
BUF_VERSION           := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
CONNECT_GO_VERSION    := v1.21.1
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
SEEDS       ?= 1000

.PHONY: all build test lint proto proto-tools sim testnet chaos clean wasm wasm-check

all: lint build test

## build: the govnode binary, statically linked, into ./build/govnode
build:
	@# Fetch the modules the tests need too, so that `make test` after
	@# `make build` downloads nothing (go build fetches only the binary's).
	$(GO) list -deps -test ./... > /dev/null
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o build/govnode ./cmd/govnode

## test: the default test run (what CI runs): every package, then the
## end-to-end package (node/e2e) again, whole, on sm2-sm3 chains
## (GOVNODE_E2E_SUITE; the first pass ran it on ed25519-sha256): every
## process-level test under both crypto suites.
test:
	$(GO) test -count=1 -timeout 14m ./...
	GOVNODE_E2E_SUITE=sm2-sm3 $(GO) test -count=1 -timeout 14m ./node/e2e/

## wasm: the portal's in-browser verifier (ledger/lightclient compiled to
## WebAssembly, node/portal/wasm) into node/portal/static: verifier.wasm.gz,
## the toolchain's wasm_exec.js and verifier.json (toolchain, sources hash,
## wasm hash). Built with -trimpath and no VCS stamp, so the same toolchain
## and sources give the same bytes; commit what it writes.
wasm:
	$(GO) run ./node/portal/internal/wasmbuild

## wasm-check: the committed verifier is built from the current sources,
## and, with the toolchain that built it, is byte for byte a fresh build
wasm-check:
	$(GO) run ./node/portal/internal/wasmbuild -check

## lint: gofmt check and go vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

proto-tools:
	@mkdir -p $(BIN)
	@test -x $(BIN)/buf-$(BUF_VERSION) || (GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) && mv $(BIN)/buf $(BIN)/buf-$(BUF_VERSION))
	@test -x $(BIN)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION) || (GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION) && cp $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION))
	@test -x $(BIN)/protoc-gen-connect-go-$(CONNECT_GO_VERSION) || (GOBIN=$(BIN) $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(CONNECT_GO_VERSION) && cp $(BIN)/protoc-gen-connect-go $(BIN)/protoc-gen-connect-go-$(CONNECT_GO_VERSION))
	@cp $(BIN)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION) $(BIN)/protoc-gen-go
	@cp $(BIN)/protoc-gen-connect-go-$(CONNECT_GO_VERSION) $(BIN)/protoc-gen-connect-go

## proto: lint the .proto sources and regenerate the committed Go code
proto: proto-tools
	PATH=$(BIN):$$PATH $(BIN)/buf-$(BUF_VERSION) lint
	rm -f proto/govnode/v1/*.pb.go proto/govnode/v1/govnodev1connect/*.go
	PATH=$(BIN):$$PATH $(BIN)/buf-$(BUF_VERSION) generate
	$(GO) test -count=1 ./proto/...

## sim: SEEDS seeded simulator runs per consensus configuration
sim:
	$(GO) run ./consensus/sim/cmd/simrun -seeds $(SEEDS)

## chaos: SCHEDULES seeded fault schedules of DURATION seconds each against a
## 4-node network in network namespaces (needs root; docs/CHAOS.md). Every
## other schedule (DURATION >= 30) is a membership schedule: a fifth department
## joins by governance mid-schedule, with faults around the change, and may
## leave again. The last line is the summary; SEED=N replays a run,
## CHAOS_FLAGS adds chaosrun flags (-only K, -membership-every 0|1|k, -keep).
SCHEDULES   ?= 2
DURATION    ?= 40
chaos:
	@mkdir -p build
	$(GO) build -o build/chaosrun ./node/chaos/cmd/chaosrun
	build/chaosrun -schedules $(SCHEDULES) -duration $(DURATION)s $(if $(SEED),-seed $(SEED)) $(CHAOS_FLAGS)

## testnet: a local 4-node network (scripts/testnet.sh up)
testnet: build
	scripts/testnet.sh up 4

## bench: the cluster benchmark (scripts/bench.sh) of each crypto suite: a
## fresh 4-node network, --find-max and rate steps, results into
## docs/BENCHMARKS.md (about 7 minutes a suite)
bench:
	CRYPTO_SUITE=ed25519-sha256 scripts/bench.sh
	CRYPTO_SUITE=sm2-sm3 scripts/bench.sh

clean:
	rm -rf build .bin

## image: the container image, FROM scratch around the static binary
## (contrib/docker/Dockerfile), tagged IMAGE; nothing is pulled
IMAGE ?= govnode:latest
image: build
	@command -v docker >/dev/null || { echo "make image needs docker"; exit 1; }
	ctx=$$(mktemp -d) && trap 'rm -rf "$$ctx"' EXIT && mkdir "$$ctx/home" && \
	cp build/govnode "$$ctx/" && \
	docker build -q -f contrib/docker/Dockerfile --label org.opencontainers.image.version=$(VERSION) \
		--label org.opencontainers.image.revision=$(COMMIT) -t $(IMAGE) "$$ctx"

## compose-up: a 4-department network in containers (contrib/docker/compose.yaml
## with docker-compose; scripts/compose.sh up), its files in .compose
compose-up: image
	GOVNODE_IMAGE=$(IMAGE) scripts/compose.sh up

## compose-down: remove that network's containers, network and volumes
compose-down:
	GOVNODE_IMAGE=$(IMAGE) scripts/compose.sh down

.PHONY: image compose-up compose-down
