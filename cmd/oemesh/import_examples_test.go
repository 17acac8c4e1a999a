package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// libreswanExamples is where Debian's libreswan package puts the example
// configurations (Libreswan 4.10 in bookworm).
const libreswanExamples = "/usr/share/doc/libreswan/examples"

// importCase is one file `oemesh import` is tried on: it either fails
// with err (a FILE:LINE error, where Libreswan's own parser fails too),
// or imports, dropping exactly dropped ("LINE KEY") and giving a
// configuration --check-config takes; checkErr, when set, is the one
// failure left: a file the import's notes ask the operator to put in place
// outside the test's directories.
type importCase struct {
	file     string
	args     []string
	err      string
	dropped  []string
	has      []string // in the YAML
	checkErr string
}

// importAndCheck runs the case in a fresh directory ({dir} in its strings).
func importAndCheck(t *testing.T, tc importCase) {
	t.Helper()
	dir := t.TempDir()
	expand := func(s string) string { return strings.ReplaceAll(s, "{dir}", dir) }
	args := append([]string{"import", tc.file, "--keydir", filepath.Join(dir, "keys"), "--cert-dir", filepath.Join(dir, "certs")}, tc.args...)
	for i := range args {
		args[i] = expand(args[i])
	}
	if tc.err != "" {
		r := run(t, "oemesh", args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.file+":"+tc.err) {
			t.Fatalf("import: want exit 1 with %s:%s, got %+v", tc.file, tc.err, r)
		}
		return
	}
	r := run(t, "oemesh", append([]string{"--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("import --json: %+v", r)
	}
	var res struct {
		Unsupported []struct {
			File string
			Line int
			Key  string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, p := range res.Unsupported {
		if p.File != tc.file {
			t.Errorf("problem in %s, want %s", p.File, tc.file)
		}
		dropped = append(dropped, strconv.Itoa(p.Line)+" "+p.Key)
	}
	if !slices.Equal(dropped, tc.dropped) {
		t.Errorf("dropped:\n%q\nwant\n%q", dropped, tc.dropped)
	}
	r = run(t, "oemesh", args...)
	if r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	for _, h := range tc.has {
		if !strings.Contains(r.stdout, expand(h)) {
			t.Errorf("output lacks %q:\n%s", expand(h), r.stdout)
		}
	}
	// The import's output is the whole oemesh.yaml but for the policy
	// directory, kept inside the test.
	cfg := filepath.Join(dir, "oemesh.yaml")
	os.WriteFile(cfg, []byte("policies: "+filepath.Join(dir, "policies")+"\n"+r.stdout), 0o644)
	c := run(t, "oemeshd", "--config", cfg, "--check-config")
	switch {
	case tc.checkErr == "" && c.code != 0:
		t.Errorf("--check-config refuses the import: %+v\n%s", c, r.stdout)
	case tc.checkErr != "" && (c.code == 0 || !strings.Contains(c.stderr, expand(tc.checkErr))):
		t.Errorf("--check-config: want %q, got %+v", expand(tc.checkErr), c)
	}
}

func example(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(libreswanExamples, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("Libreswan's examples are not installed (apt install libreswan): %v", err)
	}
	return p
}

// The Libreswan 4.10 examples Debian ships, one test each.

func TestImportExampleHubSpoke(t *testing.T) {
	// Prose at the start of a line: Libreswan's parser stops there too.
	importAndCheck(t, importCase{file: example(t, "hub-spoke.conf"), err: `7: "Your" at the start of a line`})
}

func TestImportExampleIPv6(t *testing.T) {
	// rightrsasigkey="0sAQP....LMsP" is a placeholder, not a key.
	importAndCheck(t, importCase{file: example(t, "ipv6.conf"), err: "18: conn ipv6-host-host: rightrsasigkey: RSA key encoding"})
}

func TestImportExampleL2TPCert(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "l2tp-cert.conf"),
		dropped: []string{"11 pfs=no", "18 dpdtimeout=90", "27 left=YourServerIP", "31 leftprotoport=17/1701", "41 rightprotoport=17/%any",
			"42 rightsubnet=vhost:%priv,%no", "50 type=passthrough"},
		has: []string{`auth: "cert"`, `mode: "transport"`},
		// The CA the note asks for (rightca=%same: ours) is the first
		// file missing; everything before it passes.
		checkErr: "key ca: CA bundle: stat {dir}/certs/ca.crt",
	})
}

func TestImportExampleL2TPPSK(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "ipsec.secrets")
	os.WriteFile(sec, []byte(": PSK \"a secret\"\n"), 0o600)
	importAndCheck(t, importCase{file: example(t, "l2tp-psk.conf"), args: []string{"--secrets", sec},
		dropped: []string{"2 rightsubnet=vhost:%priv",
			"17 pfs=no", "25 dpdtimeout=90", "33 left=YourGatewayIP", "37 leftprotoport=17/1701", "45 rightprotoport=17/%any",
			"17 pfs=no", "25 dpdtimeout=90", "33 left=YourGatewayIP", "37 leftprotoport=17/1701", "45 rightprotoport=17/%any",
			"53 type=passthrough"},
		has: []string{`name: "L2TP-PSK-NAT"`, `name: "L2TP-PSK-noNAT"`, `psk: "` + sec + `"`},
	})
}

func TestImportExampleLinuxLinux(t *testing.T) {
	// leftid= differs from the daemon's identity: the conn's own.
	importAndCheck(t, importCase{file: example(t, "linux-linux.conf"),
		has: []string{`local_id: "@bofh.xelerance.com"`, `remote_key: "{dir}/keys/linux-to-linux-right.pem"`}})
}

func TestImportExampleOEAuthNull(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-authnull.conf"),
		has: []string{"oe:\n  null_auth: \"only\"\n  negotiation_shunt: \"hold\"\n  negotiation_timeout: \"2s\"\n", "#   block (conn block,"}})
}

func TestImportExampleOEDNSSECClient(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-dnssec-client.conf"),
		dropped: []string{"2 rightauth=rsasig with leftauth=null"},
		has:     []string{"oe:\n  null_auth: \"fallback\"\n  negotiation_shunt: \"pass\"\n"}})
}

func TestImportExampleOEDNSSECServer(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-dnssec-server.conf"),
		dropped: []string{"9 leftid=@YOURFQDN"},
		has:     []string{`address_pool: ["100.64.0.1-100.64.255.254"]`}})
}

func TestImportExampleOEExcludeDNS(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-exclude-dns.conf"),
		dropped: []string{"3 leftnexthop=%defaultroute", "4 leftprotoport=17/%any", "7 rightprotoport=17/53", "8 type=passthrough"}})
}

func TestImportExampleOELetsEncryptClient(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-letsencrypt-client.conf"),
		has: []string{`trust_certificates: "webpki"`, `negotiation_timeout: "3s"`}})
}

func TestImportExampleOELetsEncryptServer(t *testing.T) {
	// The certificate the note asks for, exported where it says.
	f := example(t, "oe-letsencrypt-server.conf")
	dir := t.TempDir()
	writeSelfSigned(t, filepath.Join(dir, "certs"), "YourServerDNSName")
	importAndCheck(t, importCase{file: f, args: []string{"--cert-dir", filepath.Join(dir, "certs")},
		has: []string{`cert: "` + filepath.Join(dir, "certs", "YourServerDNSName.crt") + `"`, `cert_answer: "always"`}})
}

func TestImportExampleOEUpgradeAuthNull(t *testing.T) {
	importAndCheck(t, importCase{file: example(t, "oe-upgrade-authnull.conf"),
		has: []string{"null_auth: \"only\"\n  negotiation_shunt: \"pass\"\n"}})
}

func TestImportExampleSysctl(t *testing.T) {
	// A sysctl.conf fragment, not an ipsec.conf.
	importAndCheck(t, importCase{file: example(t, "sysctl.conf"), err: `4: "net.ipv4.ip_forward" at the start of a line`})
}

func TestImportExampleXAuth(t *testing.T) {
	// modecfgdns1.2.3.4,5.6.7.8 lacks its =: Libreswan stops there too.
	importAndCheck(t, importCase{file: example(t, "xauth.conf"), err: "15: want key=value"})
}

// TestImportFreeSWAN2: a FreeS/WAN 2.x ipsec.conf with its policy-group
// conns spelled out, and a net-to-net conn with its own IDs.
func TestImportFreeSWAN2(t *testing.T) {
	f, err := filepath.Abs("../../internal/ipsecconf/testdata/freeswan2.conf")
	if err != nil {
		t.Fatal(err)
	}
	importAndCheck(t, importCase{file: f,
		dropped: []string{"9 config setup interfaces", "10 config setup klipsdebug", "11 config setup plutodebug",
			"62 rekey=no", "62 rekey=no", "54 conn oe-common"},
		has: []string{"oe:\n  null_auth: \"off\"\n  ike_lifetime: \"1h0m0s\"\n  child_lifetime: \"1h0m0s\"\n",
			"#   private-or-clear (conn packetdefault,", `local_id: "@gw.example.org"`}})
}

// TestImportIncludes: Debian's default ipsec.conf and ipsec.secrets are
// includes of /etc/ipsec.d; the conns and secrets there are imported.
func TestImportIncludes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ipsec.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ipsec.conf"), []byte("config setup\n\nconn %default\n\tauthby=secret\n\ninclude ipsec.d/*.conf\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ipsec.d", "office.conf"), []byte("conn office\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tauto=add\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ipsec.secrets"), []byte("include ipsec.d/*.secrets\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "ipsec.d", "office.secrets"), []byte("192.0.2.1 198.51.100.1 : PSK \"k\"\n"), 0o600)
	importAndCheck(t, importCase{file: filepath.Join(dir, "ipsec.conf"), args: []string{"--secrets", filepath.Join(dir, "ipsec.secrets")},
		has: []string{`name: "office"`, "PSK found in " + filepath.Join(dir, "ipsec.d", "office.secrets") + " at line 1"}})
}

// writeSelfSigned writes NAME.crt and NAME.key (mode 0600) into dir.
func writeSelfSigned(t *testing.T, dir, name string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{"server.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
}
