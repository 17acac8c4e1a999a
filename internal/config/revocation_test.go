package config

import (
	"strings"
	"testing"
	"time"
)

// TestConnsRevocation: a cert conn's crl: and ocsp: are read as written;
// each is refused with the key and the reason when it is wrong.
func TestConnsRevocation(t *testing.T) {
	const base = `name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, key: /k.pem, ca: /ca.pem`
	cs, err := LoadConns(write(t, "c.yaml", "conns: [{"+base+", crl: /etc/ipsec.d/crls, ocsp: hard}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].CRL != "/etc/ipsec.d/crls" || cs[0].OCSP != "hard" {
		t.Errorf("crl %q, ocsp %q", cs[0].CRL, cs[0].OCSP)
	}
	cs, err = LoadConns(write(t, "c.yaml", "conns: [{"+base+"}]\n"))
	if err != nil || cs[0].CRL != "" || cs[0].OCSP != "" {
		t.Errorf("unset: %+v, %v; want empty crl and ocsp (certs.* decide)", cs, err)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"relative crl", base + ", crl: crls", `conn a: key crl: want the absolute path of a CRL file or a directory of CRLs, got "crls"`},
		{"bad ocsp", base + ", ocsp: strict", `conn a: key ocsp: want off, soft or hard (empty: certs.ocsp), got "strict"`},
		{"crl with psk", "name: a, remote: 198.51.100.1, auth: psk, psk: /s, crl: /crl.pem", "conn a: key crl: set, but auth is psk"},
		{"ocsp with pubkey", "name: a, remote: 198.51.100.1, ocsp: soft", "conn a: key ocsp: set, but auth is pubkey"},
	} {
		_, err := LoadConns(write(t, "c.yaml", "conns: [{"+tc.body+"}]\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", tc.name, err, tc.want)
		}
	}
}

// TestCertsSection: certs.* reach Config.Certs from the file and the
// environment; relative paths and unknown OCSP modes are refused by key.
func TestCertsSection(t *testing.T) {
	def, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Certs.CRLs) != 0 || def.Certs.OCSP != "off" || def.Certs.OCSPTimeout != 5*time.Second {
		t.Errorf("defaults: %+v", def.Certs)
	}
	p := write(t, "c.yaml", "certs:\n  crls: [/etc/ipsec.d/crls, /etc/oemesh/extra.crl]\n  ocsp: soft\n  ocsp_timeout: 2s\n")
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certs.CRLs) != 2 || c.Certs.CRLs[1] != "/etc/oemesh/extra.crl" || c.Certs.OCSP != "soft" || c.Certs.OCSPTimeout != 2*time.Second {
		t.Errorf("file: %+v", c.Certs)
	}
	c, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_CERTS_OCSP=hard"}})
	if err != nil || c.Certs.OCSP != "hard" {
		t.Errorf("environment: %+v, %v", c.Certs, err)
	}
	for body, want := range map[string]string{
		"certs:\n  crls: [crls]\n":   `"crls" must be an absolute path`,
		"certs:\n  ocsp: strict\n":   "must be one of off, soft, hard",
		"certs:\n  ocsp_timeout: 0s": "must be greater than zero",
	} {
		_, err := Load(Options{File: write(t, "c.yaml", body), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "certs.") {
			t.Errorf("%q: %v\nwant the key and %q", body, err, want)
		}
	}
}
