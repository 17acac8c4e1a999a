package xfrm

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// needNft skips without the nft command (Debian package nftables, which
// `make deps` installs).
func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(nftCommand); err != nil {
		t.Fatal("needs nft (Debian package nftables; `make deps` installs it)")
	}
}

// TestCATRulesInNamespace: the executor's nft runs in the data plane's
// namespace, the install script loads on this kernel and replaces itself,
// the remove script is idempotent, and a start (Reconcile) removes the
// CAT tables an earlier run left, and no other table. ESP itself needs the
// VM (TestVMCAT).
func TestCATRulesInNamespace(t *testing.T) {
	netnstest.Need(t)
	needNft(t)
	ns := netnstest.New(t, "xcat")
	ex := inspect(t, ns)
	ctx := context.Background()
	list := func() string {
		t.Helper()
		out, err := ns.Command(ctx, "nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %v\n%s", err, out)
		}
		return string(out)
	}
	for i := 0; i < 2; i++ { // the second install replaces the first
		if err := ex.nft(ctx, catV4.installScript()); err != nil {
			t.Fatalf("install %s (%d): %v", catV4, i, err)
		}
	}
	if err := ex.nft(ctx, catV6.installScript()); err != nil {
		t.Fatalf("install %s: %v", catV6, err)
	}
	rs := list()
	if n := strings.Count(rs, "snat to 100.64.0.1"); n != 1 {
		t.Errorf("after two installs: %d SNAT rules to the lease, want 1:\n%s", n, rs)
	}
	for _, want := range []string{"table ip " + catV4.table(), "table ip6 " + catV6.table(), "dnat to 198.18.0.1", "snat to fd00:64::1"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	// Not ours: kept by the sweep.
	if err := ex.nft(ctx, "table ip someone_else {}\n"); err != nil {
		t.Fatal(err)
	}
	// The host's own namespace is untouched.
	if out, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), catV4.table()) {
		t.Errorf("the CAT table appeared in the test's own namespace:\n%s", out)
	}
	d := open(t, ns, Options{}) // New reconciles
	rs = list()
	if strings.Contains(rs, catTablePrefix) || !strings.Contains(rs, "table ip someone_else") {
		t.Errorf("after New: want no CAT table and someone_else's kept:\n%s", rs)
	}
	if err := d.ex.nft(ctx, catV4.removeScript()); err != nil {
		t.Errorf("removing a CAT that is not there: %v", err)
	}
	err := d.ex.nft(ctx, "table ip x {\n\tchain c {\n\t\tip saddr nonsense accept\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "nft -f -") || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("bad script: %v; want nft's own message and the script", err)
	}
}
