# affix — see README.md. `make demo` runs the main job end to end on a fresh
# machine; `make test` runs every test CI runs, installing what they need.

GO       ?= go
BIN      := $(CURDIR)/bin
PKG      := github.com/affix-oci/affix
# -dirty also for untracked files (git describe ignores them), as Go's own
# VCS stamp does: a dirty version keys affix's SBOM cache by the binary.
VERSION  ?= $(shell v=$$(git describe --tags --always --dirty 2>/dev/null) || v=dev; \
	if [ "$$v" != dev ] && [ "$${v%-dirty}" = "$$v" ] && [ -n "$$(git status --porcelain 2>/dev/null)" ]; then v=$$v-dirty; fi; echo $$v)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
export PATH := $(BIN):$(PATH)
export CGO_ENABLED ?= 0

# Commands built into bin/: affix (also the docker CLI plugin) and
# affix-scanner (the BuildKit SBOM generator's binary).
CMDS := affix affix-scanner

# Where `make install` puts them.
PREFIX        ?= /usr/local
DOCKER_CONFIG ?= $(HOME)/.docker

.PHONY: all build install scanner-image tools clients deps test test-unit test-race demo bench fuzz lint cross clean
all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# install installs affix and affix-scanner into $(PREFIX)/bin and affix as
# the Docker CLI plugin $(DOCKER_CONFIG)/cli-plugins/docker-affix (`docker
# affix ...`).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(DOCKER_CONFIG)/cli-plugins
	install -m 0755 $(addprefix $(BIN)/,$(CMDS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BIN)/affix $(DESTDIR)$(DOCKER_CONFIG)/cli-plugins/docker-affix

# scanner-image builds the affix-scanner image (plugin/scanner/Dockerfile,
# FROM scratch) for PLATFORMS with the running buildkitd (BUILDKIT_HOST, or
# buildctl's default socket) and pushes it to $(REGISTRY)/affix-scanner:
#   make scanner-image REGISTRY=registry.example.com/tools
#   make scanner-image REGISTRY=127.0.0.1:5000 INSECURE=1
# It prints only the pushed reference with its digest on stdout, the value
# for `--opt attest:sbom=generator=...`:
#   GEN=$$(make -s scanner-image REGISTRY=...)
# See hack/scanner-image.sh. It uses bin/buildctl, else buildctl on PATH,
# and builds bin/buildctl only when there is neither (never again when it
# is older than go.mod: that would rebuild buildkitd under a daemon that
# may be running).
scanner-image:
	@test -n "$(REGISTRY)" || { echo "make scanner-image: set REGISTRY=host[:port][/path]" >&2; exit 2; }
	@command -v buildctl >/dev/null 2>&1 || $(MAKE) --no-print-directory $(BIN)/buildctl >&2
	@REGISTRY=$(REGISTRY) BUILDCTL=$$(command -v buildctl) hack/scanner-image.sh

# buildkitd and buildctl are built from the BuildKit module version in go.mod
# (the `tool` directive), so the daemon matches the client library.
# distribution v3's registry (a second registry without the referrers API)
# and, for the tests only (`make clients`), oras, regctl, trivy and cosign (the
# referrers clients the tests read results back with; oras is also what
# the push benchmark compares with) are installed from their own modules
# at pinned versions; they do not enter affix's go.mod. trivy needs
# GOEXPERIMENT=jsonv2 and takes about five minutes to build cold, which
# the demo does not wait for.
ORAS_VERSION         := v1.3.6
REGCTL_VERSION       := v0.11.1
TRIVY_VERSION        := v0.74.0
DISTRIBUTION_VERSION := v3.1.2
STATICCHECK_VERSION  := v0.8.2
COSIGN_VERSION       := v3.1.3
tools: $(BIN)/buildkitd $(BIN)/buildctl $(BIN)/registry
clients: $(BIN)/oras $(BIN)/regctl $(BIN)/trivy $(BIN)/cosign
$(BIN)/buildkitd $(BIN)/buildctl: go.mod go.sum
	@mkdir -p $(BIN)
	$(GO) build -ldflags "-X github.com/moby/buildkit/version.Version=$$($(GO) list -m -f '{{.Version}}' github.com/moby/buildkit)" \
		-o $(BIN)/ github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
$(BIN)/oras:
	GOBIN=$(BIN) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)
$(BIN)/regctl:
	GOBIN=$(BIN) $(GO) install github.com/regclient/regclient/cmd/regctl@$(REGCTL_VERSION)
$(BIN)/trivy:
	GOEXPERIMENT=jsonv2 GOBIN=$(BIN) $(GO) install github.com/aquasecurity/trivy/cmd/trivy@$(TRIVY_VERSION)
$(BIN)/cosign:
	GOBIN=$(BIN) $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)
$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(BIN)/registry:
	GOBIN=$(BIN) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(DISTRIBUTION_VERSION)

# System packages the tests and the demo need (runc, Debian's registry).
deps:
	hack/install-deps.sh

# test runs unit and integration tests. AFFIX_INTEGRATION=1 makes a missing
# prerequisite (buildkitd, runc, docker-registry, root) a failure, not a skip.
# -parallel 8: the fault-injection cases (exporter TestFailureLeavesTag)
# mostly wait out retry backoff, each against its own registry.
# The second run puts the engines with the most concurrency (exporter's
# push, referrers rounds and retries; internal/oci's readers) under the
# race detector, against the same registries (-race needs cgo: gcc comes
# with make deps).
test: deps tools clients build lint
	AFFIX_INTEGRATION=1 $(GO) test -count=1 -parallel 8 -timeout 45m ./...
	AFFIX_INTEGRATION=1 CGO_ENABLED=1 $(GO) test -race -count=1 -parallel 8 -timeout 20m ./exporter ./internal/oci

# test-race runs every package's unit tests under the race detector (slow:
# syft and BuildKit are rebuilt with -race once).
test-race:
	CGO_ENABLED=1 $(GO) test -race -short -count=1 ./...

# test-unit runs what needs no daemon, registry server or root.
test-unit:
	$(GO) test -short -count=1 ./...

demo: deps tools build
	hack/demo.sh

bench: deps tools $(BIN)/oras build
	hack/bench.sh

# bench-large measures affix on a generated large image (two platforms of
# 1 GiB of big files, 50000 small files, 3000 dpkg packages, 10000
# whiteouts): about 5 minutes and 8 GiB in $TMPDIR. See hack/bench-large.sh
# and docs/benchmarks.md, "Large images".
.PHONY: bench-large
bench-large: build $(BIN)/registry
	hack/bench-large.sh

# fuzz runs every Go fuzz target (func FuzzXxx in a _test.go file) for
# FUZZTIME each, one target at a time: go test -fuzz takes one target per
# run, and targets sharing the CPU find less. A failing input is written
# to the package's testdata/fuzz/FuzzXxx/ (commit it with the fix: plain
# go test replays it); the corpus grows in $(go env GOCACHE)/fuzz. All
# targets run; the ones that failed are listed at the end.
#   make fuzz FUZZTIME=2m FUZZ_PKGS=./internal/oci
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 5s
FUZZPARALLEL     ?= 1
FUZZ_PKGS        ?= $(addprefix ./,$(sort $(dir $(shell git grep -l '^func Fuzz' -- '*_test.go' 2>/dev/null))))
fuzz:
	@failed=; for pkg in $(FUZZ_PKGS); do \
		targets=$$($(GO) test -list '^Fuzz' $$pkg) || exit 1; \
		for t in $$(echo "$$targets" | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$t for $(FUZZTIME)"; \
			$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) -parallel=$(FUZZPARALLEL) $$pkg || failed="$$failed $$pkg.$$t"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed" >&2; exit 1; fi

# lint: gofmt, go vet and staticcheck (built from its module at a pinned
# version, like the other tools).
lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

# cross: go vet (so every package and test compiles) for macOS and Windows.
# buildkitd and its tests need Linux; push, attach, ls, get, convert,
# merge and sbom of a layout do not, and neither do their unit tests. Not
# part of test: it compiles the dependencies twice more.
cross:
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...

clean:
	rm -rf $(BIN)
