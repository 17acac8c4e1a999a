package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/oemesh/oemesh/"

// rules: a package (or subtree, ending in /...) and the module packages it
// may import. Anything of ours not listed is forbidden.
var rules = []struct {
	pkg   string
	allow []string
}{
	{"policygroups/...", nil},
	{"dnskey/...", nil},
	{"ike/...", nil},
	{"kernel", nil},
	{"kernel/...", []string{"kernel", "kernel/..."}},
	{"internal/config", nil},
	{"internal/control", nil},
	{"oe/...", []string{"policygroups/...", "dnskey/...", "ike/...", "kernel", "kernel/..."}},
	// The CLI shows the daemon's replies through internal/control only;
	// the domain packages it imports serve its offline tools (probe,
	// respond, newhostkey, dns lookup, policy --dir, import) and its
	// tests (internal/config). It never imports oe.
	{"cmd/oemesh", []string{"internal/control", "ike/...", "dnskey/...", "policygroups/...", "kernel/xfrm", "internal/ipsecconf", "internal/config"}},
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
			check(t, pkg, strings.Fields(testImports), append(r.allow, testHarness...), "tests import")
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
