package config

import (
	"strings"
	"testing"
)

const certConn = `
conns:
  - name: site
    remote: 198.51.100.1
    auth: cert
    cert: /etc/oemesh/site.crt
    key: /etc/oemesh/site.key
    ca: /etc/oemesh/ca.crt
    remote_id: 'C=CH, O=Example\, Inc., CN=peer.example'
  - name: rw
    remote: "%any"
    auth: cert
    cert: /etc/oemesh/site.crt
    key: /etc/oemesh/site.key
    ca: /etc/oemesh/cas
    local_id: "@gw.example"
    remote_id: "@client.example"
`

func TestConnsCert(t *testing.T) {
	cs, err := LoadConns(write(t, "c.yaml", certConn))
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0]
	if c.Auth != "cert" || c.Cert != "/etc/oemesh/site.crt" || c.Key != "/etc/oemesh/site.key" || c.CA != "/etc/oemesh/ca.crt" ||
		c.RemoteID != `C=CH, O=Example\, Inc., CN=peer.example` || c.LocalID != "%fromcert" {
		t.Errorf("cert conn decoded wrong: %+v", c)
	}
	if rw := cs[1]; rw.LocalID != "@gw.example" || rw.RemoteID != "@client.example" || rw.CA != "/etc/oemesh/cas" {
		t.Errorf("SAN ids decoded wrong: %+v", rw)
	}
}

func TestConnsCertErrors(t *testing.T) {
	const base = `name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, key: /k.pem, ca: /ca.pem`
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"cert missing", `[{name: a, remote: 198.51.100.1, auth: cert, key: /k.pem, ca: /ca.pem}]`, []string{"conn a: key cert: missing: auth cert needs our certificate"}},
		{"key missing", `[{name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, ca: /ca.pem}]`, []string{"conn a: key key: missing: auth cert needs our certificate's private key"}},
		{"ca missing", `[{name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, key: /k.pem}]`, []string{"conn a: key ca: missing: auth cert needs the CA bundle"}},
		{"relative cert", `[{name: a, remote: 198.51.100.1, auth: cert, cert: c.pem, key: /k.pem, ca: /ca.pem}]`, []string{`conn a: key cert: want the absolute path of our certificate (PEM), got "c.pem"`}},
		{"relative key", `[{name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, key: k.pem, ca: /ca.pem}]`, []string{`conn a: key key: want the absolute path`}},
		{"relative ca", `[{name: a, remote: 198.51.100.1, auth: cert, cert: /c.pem, key: /k.pem, ca: ca}]`, []string{`conn a: key ca: want the absolute path of the CA bundle`}},
		{"cert without auth cert", `[{name: a, remote: 198.51.100.1, cert: /c.pem}]`, []string{"conn a: key cert: set, but auth is pubkey"}},
		{"ca with psk", `[{name: a, remote: 198.51.100.1, auth: psk, psk: /s, ca: /ca.pem}]`, []string{"conn a: key ca: set, but auth is psk"}},
		{"remote_key with cert", `[{` + base + `, remote_key: /peer.pem}]`, []string{"conn a: key remote_key: set, but auth is cert"}},
		{"bad DN", `[{` + base + `, remote_id: "C=CH, O"}]`, []string{`conn a: key remote_id: distinguished name "C=CH, O": part "O" is not ATTR=value`}},
		{"empty DN value", `[{` + base + `, remote_id: "C=CH, CN="}]`, []string{`part "CN=" is not ATTR=value`}},
		{"DN without cert", `[{name: a, remote: 198.51.100.1, remote_id: "CN=peer"}]`, []string{`conn a: key remote_id: "CN=peer" needs auth cert (auth is pubkey)`}},
		{"fromcert without cert", `[{name: a, remote: 198.51.100.1, local_id: "%fromcert"}]`, []string{`conn a: key local_id: "%fromcert" needs auth cert`}},
		{"bad local_id", `[{` + base + `, local_id: "gw example"}]`, []string{`conn a: key local_id: want %fromcert, or a subjectAltName`}},
		{"fromcert remote", `[{` + base + `, remote_id: "%fromcert"}]`, []string{`conn a: key remote_id: want a distinguished name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConns(write(t, "c.yaml", "conns: "+tc.body+"\n"))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
