# oemesh — see README.md. `make test` and `make demo` install what they need (as root).
GO        ?= go
BIN       ?= bin
PREFIX    ?= /usr/local
PKGS      := ./...
TESTFLAGS ?= -count=1 -timeout 25m
FUZZTIME  ?= 30s
# nfpm builds the .deb. It runs with `go run` at a pinned version rather than from go.mod's
# tool block: its ~70 modules (rpm, apk, msix, git) would otherwise join go.mod and go.sum.
NFPM      ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

# What `oemesh version`, `oemeshd --version` and oemesh_build_info report (internal/version).
# DATE is the commit's, so that building the same commit twice gives the same binaries.
# Each is computed once per make run (:=), so `make deb test-deb` names one file even when
# the tree changes between the two.
VERSION   ?= $(shell ./scripts/version.sh)
COMMIT    ?= $(shell git -c safe.directory='*' rev-parse HEAD 2>/dev/null)
DATE      ?= $(shell TZ=UTC git -c safe.directory='*' log -1 --date=iso-strict-local --format=%cd 2>/dev/null)
VERSION   := $(VERSION)
COMMIT    := $(COMMIT)
DATE      := $(DATE)
VPKG      := github.com/oemesh/oemesh/internal/version
LDFLAGS   := -X $(VPKG).version=$(VERSION) -X $(VPKG).commit=$(COMMIT) -X $(VPKG).date=$(DATE)

.PHONY: all build deps test test-unit demo bench fuzz lint generate generate-check install clean stage deb test-deb check-unit

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

deps:
	./scripts/install-deps.sh

# The whole suite, including the namespace and interop tests (needs root).
# It ends with the check that no test left anything behind (namespaces, nsfs
# mounts, XFRM state in our bands, TUN devices, daemons: internal/leftovers),
# which runs also when a test failed; both failures are reported.
test: deps generate-check check-unit test-deb
	$(GO) vet $(PKGS)
	rc=0; $(GO) test $(TESTFLAGS) $(PKGS) || rc=$$?; \
	$(GO) run ./internal/leftovers/check || [ $$rc -ne 0 ] || rc=1; \
	exit $$rc

# The leftovers check alone (after a run you interrupted, say).
.PHONY: check-leftovers
check-leftovers:
	$(GO) run ./internal/leftovers/check

# The kernel data plane: kernel/xfrm's namespace tests on this kernel, then the same
# package with its ESP tests and the 10,000-pair benchmark in Debian's kernel under qemu.
# The hostile-network suite (internal/reliability, docs/reliability.md): real
# oemeshd processes in namespaces under garbage; each scenario logs its FIGURE.
# `make test` runs it too, as part of ./... .
.PHONY: test-reliability
test-reliability:
	$(GO) test -count=1 -timeout 15m -v ./internal/reliability/

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

# The package's files, staged in build/pkg: stripped binaries, gzipped man pages, the shell
# completions (from cobra), the Debian changelog and the release notes.
PKGDIR := build/pkg
stage:
	rm -rf $(PKGDIR)
	mkdir -p $(PKGDIR)/man/man5 $(PKGDIR)/man/man8 $(PKGDIR)/completion
	CGO_ENABLED=1 CGO_CFLAGS='-O2 -D_FORTIFY_SOURCE=2' $(GO) build -trimpath -buildmode=pie -ldflags '-s -w -extldflags=-Wl,-z,relro,-z,now $(LDFLAGS)' -o $(PKGDIR)/ ./cmd/oemesh ./cmd/oemeshd
	objcopy --remove-section .comment $(PKGDIR)/oemesh
	objcopy --remove-section .comment $(PKGDIR)/oemeshd
	for f in dist/man/*.8; do gzip -9n <$$f >$(PKGDIR)/man/man8/$${f##*/}.gz; done
	for f in dist/man/*.5; do gzip -9n <$$f >$(PKGDIR)/man/man5/$${f##*/}.gz; done
	$(PKGDIR)/oemesh completion bash >$(PKGDIR)/completion/oemesh.bash
	$(PKGDIR)/oemesh completion zsh >$(PKGDIR)/completion/_oemesh
	$(PKGDIR)/oemesh completion fish >$(PKGDIR)/completion/oemesh.fish
	./scripts/debian-changelog.sh $(VERSION) | gzip -9n >$(PKGDIR)/changelog.gz
	gzip -9n <CHANGELOG.md >$(PKGDIR)/CHANGELOG.md.gz

# dist/oemesh_VERSION_amd64.deb (packaging/nfpm.yaml).
deb: stage
	VERSION=$(VERSION) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target dist/oemesh_$(VERSION)_amd64.deb

# The package in a clean Debian 12 system: lintian, install, run, systemd-analyze, purge.
test-deb: deb
	./scripts/test-deb.sh dist/oemesh_$(VERSION)_amd64.deb

# The unit as shipped: systemd-analyze security within packaging/security-threshold
# (test-deb also runs systemd-analyze verify on the installed unit).
check-unit:
	systemd-analyze security --offline=true --no-pager --threshold=$$(cat packaging/security-threshold) dist/oemeshd.service

# PREFIX=/usr for a distribution's layout; the unit is rewritten to the binaries' path.
install: stage
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/oemesh $(DESTDIR)/etc/ipsec.d/policies \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(PKGDIR)/oemeshd $(DESTDIR)$(PREFIX)/sbin/oemeshd
	install -m 0755 $(PKGDIR)/oemesh $(DESTDIR)$(PREFIX)/bin/oemesh
	install -d $(DESTDIR)/etc/systemd/system
	sed 's|/usr/sbin/oemeshd|$(PREFIX)/sbin/oemeshd|g' dist/oemeshd.service >$(DESTDIR)/etc/systemd/system/oemeshd.service
	chmod 0644 $(DESTDIR)/etc/systemd/system/oemeshd.service
	test -e $(DESTDIR)/etc/oemesh/oemesh.yaml || install -m 0644 dist/oemesh.yaml $(DESTDIR)/etc/oemesh/oemesh.yaml
	install -m 0644 $(PKGDIR)/man/man8/*.gz $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 $(PKGDIR)/man/man5/*.gz $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(PKGDIR)/completion/oemesh.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/oemesh
	install -m 0644 $(PKGDIR)/completion/_oemesh $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_oemesh
	install -m 0644 $(PKGDIR)/completion/oemesh.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/oemesh.fish

clean:
	rm -rf $(BIN) build
