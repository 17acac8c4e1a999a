# oemesh — see README.md. `make test` and `make demo` install what they need (as root).
GO        ?= go
BIN       ?= bin
PREFIX    ?= /usr/local
PKGS      := ./...
TESTFLAGS ?= -count=1 -timeout 25m
FUZZTIME  ?= 30s

.PHONY: all build deps test test-unit demo bench fuzz lint install clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

deps:
	./scripts/install-deps.sh

# The whole suite, including the namespace and interop tests (needs root).
test: deps
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

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/oemesh $(DESTDIR)/etc/ipsec.d/policies
	install -m 0755 $(BIN)/oemeshd $(DESTDIR)$(PREFIX)/sbin/oemeshd
	install -m 0755 $(BIN)/oemesh $(DESTDIR)$(PREFIX)/bin/oemesh
	install -D -m 0644 dist/oemeshd.service $(DESTDIR)/etc/systemd/system/oemeshd.service
	test -e $(DESTDIR)/etc/oemesh/oemesh.yaml || install -m 0644 dist/oemesh.yaml $(DESTDIR)/etc/oemesh/oemesh.yaml

clean:
	rm -rf $(BIN)
