package layout

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/oemesh/oemesh/"

// rules: a package (or subtree, ending in /...) and the module packages it
// may import; its tests may also import tests. Anything of ours not listed
// is forbidden. The first rule that matches a package counts.
var rules = []struct {
	pkg   string
	allow []string
	tests []string
}{
	// The clock is the one vocabulary for time: below every layer, it
	// imports nothing of ours, and the leaves may import it and nothing
	// else of ours.
	{"internal/clock", nil, nil},
	{"internal/clock/clocktest", []string{"internal/clock"}, nil},
	// The private key parser is below the two packages that read keys
	// (dnskey's host key, certs' certificate keys): one parser for both.
	{"internal/privkey", nil, []string{"certs/certstest"}},
	// The RSA signer (OpenSSL or crypto/rsa) is a leaf: the programs wrap
	// the keys they load with it; the libraries see a crypto.Signer.
	{"internal/rsasign", nil, nil},
	// DN comparison is below the engine and the verifier, which must
	// agree on it.
	{"internal/dn", nil, nil},
	// Ed25519 signing and verification (curve25519-voi) is below the
	// engine, which verifies with it; the programs wrap the keys they
	// load with it, as with internal/rsasign.
	{"internal/edsig", nil, nil},
	// The log buffer tests share is a leaf.
	{"internal/logtest", nil, nil},
	{"policygroups/...", nil, nil},
	// Self-publication writes what dnskey reads, with dnskey's record
	// builders; nothing below it imports it.
	{"dnskey/publish", []string{"dnskey", "internal/clock"}, nil},
	// The DNS stub reads answers for dnskey's look-ups; the daemon hands
	// it the policy and the prestart as funcs, so it knows nothing of oe
	// or policygroups.
	{"dnskey/stub", []string{"dnskey", "internal/clock"}, nil},
	{"dnskey/...", []string{"internal/clock", "internal/privkey"}, nil},
	// The IKE wire format is below the engine: it imports nothing of
	// ours, and only ike uses it (Go's internal rule enforces that).
	{"ike/internal/wire", nil, nil},
	// The address pool (modecfg leases) is a table below the engine.
	{"ike/addrpool", []string{"internal/clock"}, nil},
	// ike's tests make their certificates with the shared test PKI, and
	// its benchmark measures the handshake with the verifier oemeshd runs
	// (certs); the engine itself never imports either.
	{"ike/...", []string{"internal/clock", "internal/dn", "internal/edsig", "ike/internal/wire", "ike/addrpool"}, []string{"certs", "certs/certstest"}},
	// X.509 verification is a leaf beside ike: the engine reaches it
	// through an adapter oemeshd builds. Its test PKI imports nothing of
	// ours, so any package's tests may use it.
	{"certs/certstest", nil, nil},
	{"certs", []string{"internal/clock", "internal/dn", "internal/privkey"}, []string{"certs/certstest"}},
	{"kernel", nil, nil},
	// UDP GSO/GRO helpers shared by the two senders of ESP-in-UDP trains
	// (the mux and the userspace data plane): a leaf.
	{"internal/udpgso", nil, nil},
	{"kernel/...", []string{"kernel", "kernel/...", "internal/clock", "internal/udpgso"}, nil},
	{"internal/config", nil, nil},
	{"internal/control", nil, nil},
	{"internal/version", nil, nil},
	{"internal/systemd", nil, nil},
	{"internal/manpage", []string{"internal/config"}, nil},
	// The UDP mux owns the IKE sockets; it reaches the data plane through
	// kernel.EncapSink and uses kernel/xfrm only for two socket options.
	// It knows nothing of IKE (a func hands it messages) or of OE.
	{"internal/udpmux", []string{"kernel", "kernel/xfrm", "internal/udpgso"}, nil},
	// Under oe: the shared tunnel table is a leaf; OE and the configured
	// conns know it but not each other; only the dispatcher joins them.
	// The conns' tests build the whole stack behind a dispatcher, and
	// make their certificates with the shared test PKI.
	{"oe/tunnel", []string{"ike/...", "kernel"}, nil},
	{"oe", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/...", "oe/tunnel", "internal/clock"},
		[]string{"oe/internal/oetest"}},
	{"oe/conn", []string{"policygroups/...", "ike/...", "kernel", "kernel/...", "oe/tunnel", "internal/clock"},
		[]string{"oe", "oe/dispatch", "dnskey/...", "oe/internal/oetest", "certs/certstest"}},
	{"oe/dispatch", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/...", "oe", "oe/conn", "oe/tunnel", "internal/clock"},
		[]string{"oe/internal/oetest"}},
	// The test helpers that oe, oe/conn and oe/dispatch share.
	{"oe/internal/oetest", []string{"policygroups/...", "dnskey/...", "kernel", "kernel/..."}, nil},
	{"oe/...", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/...", "internal/clock"}, nil},
	// The ipsec.conf importer reads keys (dnskey); its tests check the
	// proposals it writes with ike's parser and the configuration it
	// writes with internal/config's.
	{"internal/ipsecconf", []string{"dnskey/..."}, []string{"ike/...", "internal/config"}},
	// The CLI shows the daemon's replies through internal/control only;
	// the domain packages it imports serve its offline tools (probe,
	// respond, newhostkey, dns lookup, policy --dir, import) and its
	// tests (internal/config). It never imports oe.
	{"cmd/oemesh", []string{"internal/control", "ike/...", "dnskey/...", "policygroups/...", "internal/udpmux", "internal/ipsecconf", "internal/config", "internal/version", "internal/manpage", "internal/rsasign", "internal/edsig", "certs"}, []string{"certs/certstest"}},
}

// testHarness are the internal packages any test may use: they build test
// beds (namespaces, VMs, peers, captures, a fake clock), not product
// behaviour.
var testHarness = []string{"internal/netnstest", "internal/vmtest", "internal/peers", "internal/pcap", "internal/testbin", "internal/lab", "internal/clock/clocktest", "internal/logtest"}

// importers: a package and the only packages that may import it (their
// tests too). The mux is wired by the programs; the libraries reach it
// through interfaces (ike.Sender, kernel.EncapSink), never by name.
var importers = []struct {
	pkg     string
	allowed []string
}{
	{"internal/udpmux", []string{"cmd/...", "bench/...", "internal/e2e", "internal/lab", "internal/interop", "internal/reliability"}},
}

func match(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func TestImportRules(t *testing.T) {
	// Tests keep the layering too, but may also use the test harnesses.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}:{{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, rest, _ := strings.Cut(line, ":")
		imports, testImports, _ := strings.Cut(rest, ":")
		pkg := strings.TrimPrefix(path, module)
		for _, r := range rules {
			if !match(r.pkg, pkg) {
				continue
			}
			checked++
			check(t, pkg, strings.Fields(imports), r.allow, "imports")
			check(t, pkg, strings.Fields(testImports), slices.Concat(r.allow, r.tests, testHarness), "tests import")
			break
		}
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked: is go list working?", checked)
	}
}

func TestImporters(t *testing.T) {
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	found, reported := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, ":")
		// "pkg [pkg.test]" and "pkg_test [pkg.test]" are pkg's tests.
		path, _, _ = strings.Cut(path, " ")
		pkg := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(path, module), "_test"), ".test")
		for _, imp := range strings.Fields(imports) {
			imp, _, _ = strings.Cut(imp, " ")
			ours, ok := strings.CutPrefix(imp, module)
			if !ok || ours == pkg {
				continue
			}
			for _, r := range importers {
				if ours != r.pkg {
					continue
				}
				found[r.pkg] = true
				allowed := false
				for _, a := range r.allowed {
					allowed = allowed || match(a, pkg)
				}
				if !allowed && !reported[pkg+" "+ours] {
					reported[pkg+" "+ours] = true
					t.Errorf("%s imports %s: only %v may (see internal/layout/doc.go)", pkg, ours, r.allowed)
				}
			}
		}
	}
	for _, r := range importers {
		if !found[r.pkg] {
			t.Errorf("nothing imports %s: is go list working, or is the rule stale?", r.pkg)
		}
	}
}

func check(t *testing.T, pkg string, imports, allow []string, verb string) {
	t.Helper()
	for _, imp := range imports {
		ours, ok := strings.CutPrefix(imp, module)
		if !ok || ours == pkg {
			continue
		}
		allowed := false
		for _, a := range allow {
			allowed = allowed || match(a, ours)
		}
		if !allowed {
			t.Errorf("%s %s %s: the layering rules forbid it (allowed: %v; see internal/layout/doc.go)", pkg, verb, ours, allow)
		}
	}
}
