package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
)

// runRoot runs the oemesh command tree in-process, as main does, and
// returns its output and exit status.
func runRoot(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRootCmd()
	var so, se bytes.Buffer
	root.SetOut(&so)
	root.SetErr(&se)
	root.SetArgs(args)
	err := root.Execute()
	switch {
	case err == nil:
	default:
		code = 1
		var ec exitCoder
		if asExitCoder(err, &ec) {
			code = ec.ExitCode()
		}
		if msg := err.Error(); msg != "" {
			se.WriteString("oemesh: " + msg + "\n")
		}
	}
	return so.String(), se.String(), code
}

func TestNewHostKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "hostkey.pem")
	out, errOut, code := runRoot(t, "newhostkey", "--out", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var info hostKeyInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Type != "EdDSA" || !strings.HasPrefix(info.Fingerprint, "SHA256:") {
		t.Fatalf("output %q: %v", out, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	k, err := dnskey.LoadHostKey(path)
	if err != nil || dnskey.Fingerprint(k.Public()) != info.Fingerprint {
		t.Fatalf("printed fingerprint is not the file's: %v", err)
	}
	before, _ := os.ReadFile(path)
	if _, errOut, code := runRoot(t, "newhostkey", "--out", path); code != 1 || !strings.Contains(errOut, "--force") {
		t.Fatalf("overwrite without --force: exit %d, %s", code, errOut)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("refused overwrite changed the file")
	}
	if _, errOut, code := runRoot(t, "newhostkey", "--out", path, "--force", "--type", "ecdsa", "--bits", "384"); code != 0 {
		t.Fatalf("--force: exit %d, %s", code, errOut)
	}
	if after, _ := os.ReadFile(path); bytes.Equal(before, after) {
		t.Fatal("--force did not replace the key")
	}
	if _, errOut, code := runRoot(t, "newhostkey", "--out", filepath.Join(dir, "x.pem"), "--type", "dsa"); code != 1 || !strings.Contains(errOut, "dsa") {
		t.Fatalf("--type dsa: exit %d, %s", code, errOut)
	}
}

func TestShowHostKey(t *testing.T) {
	dir := t.TempDir()
	rsaKey := filepath.Join(dir, "rsa.pem")
	edKey := filepath.Join(dir, "ed.pem")
	if _, e, c := runRoot(t, "newhostkey", "--out", rsaKey, "--type", "rsa", "--bits", "2048"); c != 0 {
		t.Fatal(e)
	}
	if _, e, c := runRoot(t, "newhostkey", "--out", edKey); c != 0 {
		t.Fatal(e)
	}
	out, errOut, code := runRoot(t, "showhostkey", "--hostkey", rsaKey, "--ipseckey", "--txt", "--key", "--id", "198.18.0.2", "--precedence", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 records, got:\n%s", out)
	}
	k, _ := dnskey.LoadHostKey(rsaKey)
	fp := dnskey.Fingerprint(k.Public())
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if rr.Header().Name != "2.0.18.198.in-addr.arpa." {
			t.Errorf("owner %s, want the reverse name of the ID", rr.Header().Name)
		}
		var pk dnskey.PeerKey
		switch rr := rr.(type) {
		case *dns.IPSECKEY:
			pk, err = dnskey.ParseIPSECKEY(rr)
		case *dns.KEY:
			pk, err = dnskey.ParseKEY(rr)
		case *dns.TXT:
			var tr dnskey.TXTRecord
			tr, err = dnskey.ParseTXT(rr.Txt)
			pk = dnskey.PeerKey{PublicKey: tr.Key, Gateway: tr.Gateway, Precedence: tr.Precedence}
			if tr.Gateway.String() != "198.18.0.2" {
				t.Errorf("TXT gateway %s, want the ID", tr.Gateway)
			}
		}
		if err != nil || pk.Fingerprint() != fp {
			t.Errorf("%.60s…: key does not read back (%v)", l, err)
		}
		if pk.Source != dnskey.SourceKEY && pk.Precedence != 20 {
			t.Errorf("%.60s…: precedence %d, want 20", l, pk.Precedence)
		}
	}

	out, _, code = runRoot(t, "showhostkey", "--hostkey", edKey, "--ipseckey", "--id", "@host.example.com", "--gateway", "@gw.example.com")
	if code != 0 || !strings.HasPrefix(out, "host.example.com.\t3600\tIN\tIPSECKEY\t10 3 4 gw.example.com. ") {
		t.Fatalf("fqdn ID, name gateway: exit %d, %q", code, out)
	}
	out, _, code = runRoot(t, "showhostkey", "--hostkey", edKey, "--ipseckey", "--name", "peer.example.net", "--gateway", "2001:db8::9", "--ttl", "60")
	if code != 0 || !strings.HasPrefix(out, "peer.example.net.\t60\tIN\tIPSECKEY\t10 2 4 2001:db8::9 ") {
		t.Fatalf("--name, IPv6 gateway: exit %d, %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hostkey", edKey, "--id", "198.18.0.2"}, "--ipseckey, --txt or --key"},
		{[]string{"--hostkey", edKey, "--txt", "--id", "198.18.0.2"}, "RSA keys only"},
		{[]string{"--hostkey", edKey, "--key", "--id", "198.18.0.2"}, "RSA keys only"},
		{[]string{"--hostkey", edKey, "--ipseckey", "--id", "nonsense"}, "--id"},
		{[]string{"--hostkey", edKey, "--ipseckey", "--id", "198.18.0.2", "--gateway", "x y"}, "--gateway"},
		{[]string{"--hostkey", edKey, "--ipseckey", "--id", "198.18.0.2", "--precedence", "300"}, "0-255"},
		{[]string{"--hostkey", filepath.Join(dir, "missing.pem"), "--ipseckey", "--id", "198.18.0.2"}, "missing.pem"},
	} {
		if _, errOut, code := runRoot(t, append([]string{"showhostkey"}, tc.args...)...); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("showhostkey %v: exit %d, %q; want 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
