package ipsecconf

import (
	"strings"
	"testing"
)

const certConnConf = `conn site
	left=192.0.2.1
	right=198.51.100.1
	authby=rsasig
	leftcert=/etc/ipsec.d/certs/gw.pem
	rightid=@peer.example
conn psk
	left=192.0.2.1
	right=198.51.100.2
	authby=secret
`

// problemAt finds the problem of key at line.
func problemAt(ps []Problem, key string, line int) *Problem {
	for i := range ps {
		if ps[i].Key == key && ps[i].Line == line {
			return &ps[i]
		}
	}
	return nil
}

// TestImportOCSP: Libreswan's ocsp-enable and ocsp-strict become the cert
// conns' ocsp: (soft, or hard with ocsp-strict), with a note; a PSK conn
// gets none, and oemeshd reads the output.
func TestImportOCSP(t *testing.T) {
	for _, tc := range []struct {
		setup string
		want  string
	}{
		{"\tocsp-enable=yes\n", "soft"},
		{"\tocsp-enable=yes\n\tocsp-strict=yes\n", "hard"},
		{"\tocsp-enable=no\n", ""},
		{"\tocsp-strict=no\n", ""},
	} {
		res, cs := convert(t, "config setup\n"+tc.setup+certConnConf, Options{})
		if cs[0].OCSP != tc.want || cs[1].OCSP != "" {
			t.Errorf("%q: cert conn ocsp %q, PSK conn %q; want %q and none", tc.setup, cs[0].OCSP, cs[1].OCSP, tc.want)
		}
		if len(res.Unsupported) != 0 {
			t.Errorf("%q: not carried over: %v", tc.setup, res.Unsupported)
		}
		if y := res.YAML(); tc.want != "" && !strings.Contains(y, "ocsp: "+tc.want+" from config setup ocsp-enable=yes (ipsec.conf:2") {
			t.Errorf("%q: no note on where ocsp came from:\n%s", tc.setup, y)
		}
	}
	// ocsp-strict alone does nothing in Libreswan: said so.
	res, _ := convert(t, "config setup\n\tocsp-strict=yes\n"+certConnConf, Options{})
	if p := problemAt(res.Unsupported, "config setup ocsp-strict", 2); p == nil || !strings.Contains(p.Why, "without ocsp-enable=yes") {
		t.Errorf("ocsp-strict without ocsp-enable: %v", res.Unsupported)
	}
	// Without cert conns, ocsp-enable has nothing to go to: said so, with
	// the global key to use.
	res, _ = convert(t, "config setup\n\tocsp-enable=yes\nconn psk\n\tleft=192.0.2.1\n\tright=198.51.100.2\n\tauthby=secret\n", Options{})
	if p := problemAt(res.Unsupported, "config setup ocsp-enable", 2); p == nil || !strings.Contains(p.Why, "certs.ocsp: soft") {
		t.Errorf("ocsp-enable without cert conns: %v", res.Unsupported)
	}
	if f, err := Parse(strings.NewReader("config setup\n\tocsp-enable=maybe\n"), "ipsec.conf"); err != nil {
		t.Fatal(err)
	} else if _, err := Convert(f, Options{}); err == nil || !strings.Contains(err.Error(), "ipsec.conf:2: ocsp-enable") {
		t.Errorf("ocsp-enable=maybe: %v", err)
	}
}

// TestImportCRLSettings: the CRL and OCSP settings oemesh cannot carry
// over are listed with their line and what to do instead; strictcrlpolicy=no
// is oemesh's behaviour and goes through.
func TestImportCRLSettings(t *testing.T) {
	conf := `config setup
	crlcheckinterval=600
	strictcrlpolicy=yes
	ocsp-timeout=4
	ocsp-uri=http://ocsp.example/
	ocsp-cache-size=2000
ca corp
	cacert=/etc/ipsec.d/cacerts/corp.pem
	crluri=http://crl.example/corp.crl
	ocspuri1=http://ocsp.example/
	auto=add
` + certConnConf
	res, _ := convert(t, conf, Options{})
	for _, w := range []struct {
		key  string
		line int
		why  string
	}{
		{"config setup crlcheckinterval", 2, "fetches no CRLs"},
		{"config setup strictcrlpolicy", 3, "no strict CRL policy"},
		{"config setup ocsp-timeout", 4, "certs.ocsp_timeout: 4s"},
		{"config setup ocsp-uri", 5, "authorityInfoAccess"},
		{"config setup ocsp-cache-size", 6, "1024"},
		{"ca corp", 7, "certificate authorities are not supported"},
		{"ca corp cacert", 8, "ca: of the cert conns"},
		{"ca corp crluri", 9, "certs.crls"},
		{"ca corp ocspuri1", 10, "authorityInfoAccess"},
		{"ca corp auto", 11, "loaded with the conns"},
	} {
		if p := problemAt(res.Unsupported, w.key, w.line); p == nil || !strings.Contains(p.Why, w.why) {
			t.Errorf("%s at line %d: got %v, want a reason with %q", w.key, w.line, p, w.why)
		}
	}
	if y := res.YAML(); !strings.Contains(y, "ipsec.conf:2: config setup crlcheckinterval") {
		t.Errorf("the output does not list crlcheckinterval with FILE:LINE:\n%s", y)
	}
	res, _ = convert(t, "config setup\n\tstrictcrlpolicy=no\n"+certConnConf, Options{})
	if len(res.Unsupported) != 0 {
		t.Errorf("strictcrlpolicy=no: not carried over: %v", res.Unsupported)
	}
}
