# oemesh — see README.md. `make test` and `make demo` install what they need (as root).
GO        ?= go
BIN       ?= bin
PREFIX    ?= /usr/local
PKGS      := ./...
TESTFLAGS ?= -count=1 -timeout 25m
FUZZTIME  ?= 30s

.PHONY: all build deps test test-unit demo bench fuzz lint generate generate-check install clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

deps:
	./scripts/install-deps.sh

# The whole suite, including the namespace and interop tests (needs root).
test: deps generate-check
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

# The kernel data plane: kernel/xfrm's namespace tests on this kernel, then the same
# package with its ESP tests and the 10,000-pair benchmark in Debian's kernel under qemu.
.PHONY: test-kernel
test-kernel: deps
	OEMESH_VM_BENCHTIME=10000x $(GO) test -count=1 -timeout 20m -v ./kernel/xfrm/ ./internal/vmtest/

# Only what needs neither root nor installed packages.
test-unit:
	$(GO) test -short -count=1 $(PKGS)

demo: deps build
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Runs every fuzz target for FUZZTIME each; corpora live in testdata/fuzz and the packages' testdata.
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Regenerates the committed generated files: stringer's *_string.go, and the man pages in
# dist/man (from the commands, the configuration schema and CHANGELOG.md's newest release).
generate:
	$(GO) generate $(PKGS)

# Fails when the committed generated files differ from what go generate
# writes: an enum changed without `make generate`. Only generated files are
# compared, so local edits elsewhere do not fail it. (internal/layout's
# TestGeneratedFilesUpToDate and the programs' TestManPagesCurrent check the same without
# touching the tree.)
GENERATED := '*_string.go' 'dist/man/*'
generate-check: generate
	@git -c safe.directory='*' diff --exit-code --stat -- $(GENERATED) || { echo "generated files are stale: run make generate and commit them" >&2; exit 1; }
	@new=$$(git -c safe.directory='*' ls-files --others --exclude-standard -- $(GENERATED)); if [ -n "$$new" ]; then echo "go generate wrote files that are not committed:" >&2; echo "$$new" >&2; exit 1; fi

# gofmt, go vet and staticcheck (pinned in go.mod's tool block, so it runs
# offline once `go mod download` has fetched it).
lint:
	@out=$$(gofmt -l $$(git -c safe.directory='*' ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/oemesh $(DESTDIR)/etc/ipsec.d/policies
	install -m 0755 $(BIN)/oemeshd $(DESTDIR)$(PREFIX)/sbin/oemeshd
	install -m 0755 $(BIN)/oemesh $(DESTDIR)$(PREFIX)/bin/oemesh
	install -D -m 0644 dist/oemeshd.service $(DESTDIR)/etc/systemd/system/oemeshd.service
	test -e $(DESTDIR)/etc/oemesh/oemesh.yaml || install -m 0644 dist/oemesh.yaml $(DESTDIR)/etc/oemesh/oemesh.yaml

clean:
	rm -rf $(BIN)
