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
	{"policygroups/...", nil, nil},
	{"dnskey/...", nil, nil},
	{"ike/...", nil, nil},
	{"kernel", nil, nil},
	{"kernel/...", []string{"kernel", "kernel/..."}, nil},
	{"internal/config", nil, nil},
	{"internal/control", nil, nil},
	// Under oe: the shared tunnel table is a leaf; OE and the configured
	// conns know it but not each other; only the dispatcher joins them.
	// The conns' tests build the whole stack behind a dispatcher.
	{"oe/tunnel", []string{"ike/...", "kernel"}, nil},
	{"oe", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/...", "oe/tunnel"}, nil},
	{"oe/conn", []string{"policygroups/...", "ike/...", "kernel", "kernel/...", "oe/tunnel"},
		[]string{"oe", "oe/dispatch", "dnskey/..."}},
	{"oe/dispatch", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/...", "oe", "oe/conn", "oe/tunnel"}, nil},
	{"oe/...", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/..."}, nil},
	// The CLI shows the daemon's replies through internal/control only;
	// the domain packages it imports serve its offline tools (probe,
	// respond, newhostkey, dns lookup, policy --dir, import) and its
	// tests (internal/config). It never imports oe.
	{"cmd/oemesh", []string{"internal/control", "ike/...", "dnskey/...", "policygroups/...", "kernel/xfrm", "internal/ipsecconf", "internal/config"}, nil},
}

// testHarness are the internal packages any test may use: they build test
// beds (namespaces, VMs, peers, captures), not product behaviour.
var testHarness = []string{"internal/netnstest", "internal/vmtest", "internal/peers", "internal/pcap", "internal/testbin", "internal/lab"}

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
