package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

func edKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pub)
}

// TestDNSHook: `oemesh dns hook` with the four arguments as unbound
// passes them binds every address; `oemesh dns bindings` lists them;
// records oemeshd cannot use are refused with the reason and a non-zero
// exit, and so is a hook run without a daemon.
func TestDNSHook(t *testing.T) {
	t.Setenv("OEMESH_DNS_REQUIRE_DNSSEC", "false") // the daemon's namespace has no resolver
	d := startDaemon(t, map[string]string{"private-or-clear": "192.0.2.0/24\n"})
	ed, gw := edKey(t), edKey(t)
	r := d.oemesh(t, "dns", "hook", "B.example.", "300", "192.0.2.7 2001:db8::7", "10 0 4 . "+ed+" 20 1 4 192.0.2.5 "+gw+" 30 0 1 . AAAA")
	if r.code != 0 || !strings.Contains(r.stdout, "bound 192.0.2.7 2001:db8::7 to @b.example") ||
		!strings.Contains(r.stderr, `skipped "30 0 1 . AAAA"`) {
		t.Fatalf("hook: %+v", r)
	}
	var l control.BindingList
	if r := d.oemesh(t, "--json", "dns", "bindings"); decodeStrict(r.stdout, &l) != nil {
		t.Fatalf("dns bindings --json: %+v", r)
	}
	if len(l.Bindings) != 2 || l.Bindings[0].Name != "b.example." || len(l.Bindings[0].Keys) != 2 || l.Bindings[0].Secure ||
		l.Bindings[0].ExpiresInSeconds < 290 || l.Counters.Added != 2 || l.Counters.Entries != 2 || l.Counters.Max != 10000 {
		t.Errorf("bindings: %+v", l)
	}
	if r := d.oemesh(t, "dns", "bindings"); !strings.Contains(r.stdout, "192.0.2.7") || !strings.Contains(r.stdout, "@b.example") ||
		!strings.Contains(r.stdout, "gw=192.0.2.5") || !strings.Contains(r.stdout, "2 of at most 10000; added 2") {
		t.Errorf("dns bindings: %+v", r)
	}

	r = d.oemesh(t, "dns", "hook", "c.example.", "300", "192.0.2.8", "10 0 1 . AAAA")
	if r.code != 1 || !strings.Contains(r.stderr, "oemeshd refused to bind c.example.: bind: c.example.: no usable IPSECKEY record; skipped \"10 0 1 . AAAA\"") {
		t.Errorf("unusable record: %+v", r)
	}
	r = d.oemesh(t, "dns", "hook", "c.example.", "300", "192.0.2.8", "10 0 4 .")
	if r.code != 1 || !strings.Contains(r.stderr, "algorithm 4 without a public key") {
		t.Errorf("malformed list: %+v", r)
	}

	// Unbound runs the hook with the four arguments alone, by a link.
	link := filepath.Join(t.TempDir(), hookName)
	if err := os.Symlink(filepath.Join(builtDir, "oemesh"), link); err != nil {
		t.Fatal(err)
	}
	r = run(t, "oemesh", "dns", "hook", "--socket", filepath.Join(t.TempDir(), "none.sock"), "d.example.", "1", "192.0.2.9", "10 0 4 . "+ed)
	if r.code != 1 || !strings.Contains(r.stderr, "oemeshd is not running") {
		t.Errorf("no daemon: %+v", r)
	}
	if got := hookArgs([]string{link, "d.example.", "1", "192.0.2.9", "10 0 4 . " + ed}); strings.Join(got, "|") != "dns|hook|--|d.example.|1|192.0.2.9|10 0 4 . "+ed {
		t.Errorf("hookArgs = %q", got)
	}
	if hookArgs([]string{"/usr/bin/oemesh", "status"}) != nil {
		t.Error("hookArgs rewrote an ordinary run")
	}
}

// TestDNSHookRequiresDNSSEC: under dns.require_dnssec (the default),
// handed-over records count only when oemeshd's own validated look-up
// holds them; without a resolver the hook is refused, saying so.
func TestDNSHookRequiresDNSSEC(t *testing.T) {
	d := startDaemon(t, map[string]string{"private-or-clear": "192.0.2.0/24\n"})
	r := d.oemesh(t, "dns", "hook", "b.example.", "300", "192.0.2.7", "10 0 4 . "+edKey(t))
	if r.code != 1 || !strings.Contains(r.stderr, "dns.require_dnssec is on and DNS does not vouch for its records") {
		t.Errorf("hook under require_dnssec without a resolver: %+v", r)
	}
}
