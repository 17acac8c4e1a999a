package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// TestShuntsClearAndDNSFlush: shunts clear and dns flush reach the
// daemon and say what they did; command lines that say neither what nor
// --all are usage errors. (The daemon here has no network to negotiate
// over: internal/e2e's TestControlAPITypes clears a real shunt and real
// DNS answers, and oe's and dnskey's tests check what is cleared.)
func TestShuntsClearAndDNSFlush(t *testing.T) {
	d := startDaemon(t, map[string]string{"private-or-clear": "192.0.2.0/24\n"})
	var sc control.ShuntsClearReply
	if r := d.oemesh(t, "--json", "shunts", "clear", "192.0.2.6"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &sc) != nil || sc.Cleared == nil {
		t.Errorf("shunts clear 192.0.2.6: %+v", r)
	}
	if r := d.oemesh(t, "shunts", "clear", "--all"); r.code != 0 || !strings.Contains(r.stdout, "no shunts cleared") {
		t.Errorf("shunts clear --all with none: %+v", r)
	}
	var fl control.DNSFlushReply
	if r := d.oemesh(t, "--json", "dns", "flush", "192.0.2.5"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &fl) != nil ||
		fl.Name != "5.2.0.192.in-addr.arpa." {
		t.Errorf("dns flush 192.0.2.5: %+v", r)
	}
	if r := d.oemesh(t, "dns", "flush", "@peer.example"); r.code != 0 || !strings.Contains(r.stdout, "peer.example.: 0 entries flushed") {
		t.Errorf("dns flush @peer.example: %+v", r)
	}
	if r := d.oemesh(t, "dns", "flush", "--all"); r.code != 0 || !strings.Contains(r.stdout, "DNS cache flushed: 0 entries") {
		t.Errorf("dns flush --all: %+v", r)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"shunts", "clear"}, "shunts clear needs an address, or --all"},
		{[]string{"shunts", "clear", "--all", "192.0.2.5"}, "not both"},
		{[]string{"dns", "flush"}, "dns flush needs an address or @FQDN, or --all"},
		{[]string{"dns", "flush", "a", "b"}, "dns flush takes"},
	} {
		if r := d.oemesh(t, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("oemesh %v: exit %d, want 2 and %q: %+v", c.args, r.code, c.want, r)
		}
	}
	// What the daemon cannot read is its error: status 1.
	if r := d.oemesh(t, "shunts", "clear", "not-an-ip"); r.code != 1 || !strings.Contains(r.stderr, `"not-an-ip" is not an IP address`) {
		t.Errorf("shunts clear not-an-ip: %+v", r)
	}
	if r := d.oemesh(t, "dns", "flush", "not an id"); r.code != 1 || !strings.Contains(r.stderr, "dns flush") {
		t.Errorf("dns flush of a bad ID: %+v", r)
	}
}

// TestUsageErrors: a command line that does not give a command what it
// wants exits 2 and says what was wanted; an unknown subcommand too;
// with --json the error is the control API's JSON error.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"policy", "explain"}, "policy explain needs an address"},
		{[]string{"up"}, "up needs an address"},
		{[]string{"status", "extra"}, `status takes no arguments, got "extra"`},
		{[]string{"dns", "foo"}, `dns has no command "foo"; its commands: `},
		{[]string{"policy", "frobnicate", "x"}, `policy has no command "frobnicate"`},
		{[]string{"frobnicate"}, `oemesh has no command "frobnicate"`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"dns", "lookup", "a", "b"}, "dns lookup takes an address or @FQDN only, got 2 arguments"},
	} {
		var out, errb bytes.Buffer
		code := execute(c.args, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), c.want) || !strings.HasPrefix(errb.String(), "oemesh: ") {
			t.Errorf("oemesh %v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), exitUsage, c.want)
		}

		out.Reset()
		errb.Reset()
		code = execute(append([]string{"--json"}, c.args...), &out, &errb)
		var e control.Error
		if err := json.Unmarshal(errb.Bytes(), &e); err != nil || code != exitUsage || !strings.Contains(e.Error, c.want) {
			t.Errorf("oemesh --json %v: exit %d, stderr %q (%v); want a JSON error with %q", c.args, code, errb.String(), err, c.want)
		}
	}
	// A group alone prints its help, as before.
	var out, errb bytes.Buffer
	if code := execute([]string{"dns"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Available Commands") {
		t.Errorf("oemesh dns: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// TestJSONErrorFromDaemonCall: with --json, an error that is not a usage
// error (no daemon) is JSON too, with its exit status.
func TestJSONErrorFromDaemonCall(t *testing.T) {
	var out, errb bytes.Buffer
	code := execute([]string{"--json", "--socket", t.TempDir() + "/none.sock", "peers"}, &out, &errb)
	var e control.Error
	if err := json.Unmarshal(errb.Bytes(), &e); err != nil || code != 1 || !strings.Contains(e.Error, "oemeshd is not running") || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q (%v)", code, out.String(), errb.String(), err)
	}
}

// TestWritePeers: one line per peer, with what `wg show` and `tailscale
// status` show: identity, auth, key exchange, tunnels, bytes, handshake
// age, idle time; anonymous peers and peers without tunnels say so.
func TestWritePeers(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	idle := int64(7)
	ps := []control.Peer{
		{Addr: "198.18.0.2", ID: "198.18.0.2", Auth: control.AuthKey, KeyExchanges: "x25519+mlkem768", IKESAs: 1, Tunnels: 2,
			InBytes: 1000, OutBytes: 2000, LastHandshake: now.Add(-90 * time.Second), IdleSeconds: &idle},
		{Addr: "198.18.0.3", Auth: control.AuthNull, KeyExchanges: "x25519", IKESAs: 1, LastHandshake: now.Add(-time.Second)},
	}
	var b bytes.Buffer
	if err := writePeers(&b, ps, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and one per peer:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"PEER", "ID", "AUTH", "KEY EXCHANGE", "TUNNELS", "BYTES IN/OUT", "HANDSHAKE", "IDLE"},
		{"198.18.0.2", "198.18.0.2", "key", "x25519+mlkem768", " 2 ", "1000/2000", "1m30s ago", "7s"},
		{"198.18.0.3", "(anonymous)", "null (anonymous)", "x25519", " 0 ", "0/0", "1s ago", " -"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %q", i, w, lines[i])
			}
		}
	}
}

// TestWritePeersCertAndLease: a peer with a certificate and a lease gets
// the block `oemesh traffic` shows, after the table.
func TestWritePeersCertAndLease(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ps := []control.Peer{{Addr: "198.18.0.2", Auth: control.AuthCert, ID: "CN=www.example", IKESAs: 1, Tunnels: 1, LastHandshake: now,
		PeerCert: &control.PeerCertificate{Subject: "CN=www.example", Issuer: "CN=Example CA", DNSNames: []string{"www.example"},
			NotAfter: now.Add(24 * time.Hour), Fingerprint: "SHA256:abc"},
		VirtualIPs: []string{"100.64.0.1"}, Initiator: true}}
	var b bytes.Buffer
	if err := writePeers(&b, ps, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"198.18.0.2:\n", "certificate:  CN=www.example", "alt names:    www.example", "issuer:       CN=Example CA",
		"expires:      2026-12-07 12:00:00 UTC", "virtual IP:   100.64.0.1 (assigned to us)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
