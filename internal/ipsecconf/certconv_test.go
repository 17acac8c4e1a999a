package ipsecconf

import (
	"strings"
	"testing"
)

// TestImportCert: Libreswan's certificate conn (an NSS nickname, a DN
// rightid, rightca) becomes auth cert with files under --cert-dir and
// notes saying what goes there; oemeshd's parser accepts the output.
func TestImportCert(t *testing.T) {
	conf := `conn site
	left=192.0.2.1
	right=198.51.100.1
	authby=rsasig
	leftcert=gw-nss
	leftid=%fromcert
	leftrsasigkey=%cert
	rightid="C=CH, O=Example\, Inc., CN=peer.example"
	rightca="C=CH, O=Example CA"
	auto=start
`
	res, cs := convert(t, conf, Options{CertDir: "/srv/pki"})
	c := cs[0]
	if c.Auth != "cert" || c.Cert != "/srv/pki/gw-nss.crt" || c.Key != "/srv/pki/gw-nss.key" || c.CA != "/srv/pki/ca.crt" ||
		c.LocalID != "%fromcert" || c.RemoteID != `C=CH, O=Example\, Inc., CN=peer.example` {
		t.Errorf("cert conn: %+v", c)
	}
	y := res.YAML()
	for _, want := range []string{"leftcert=gw-nss is an NSS nickname", "certutil -L -d sql:/var/lib/ipsec/nss -n \"gw-nss\"",
		"rightca=C=CH, O=Example CA: put that CA's certificate in /srv/pki/ca.crt"} {
		if !strings.Contains(y, want) {
			t.Errorf("output lacks %q:\n%s", want, y)
		}
	}
	if len(res.Unsupported) != 0 {
		t.Errorf("not carried over: %v", res.Unsupported)
	}
}

// TestImportCertPathAndAuth: strongSwan-style leftauth/rightauth pubkey
// with an absolute leftcert; the default CA note; rightcert and a
// conflicting rightauth are listed.
func TestImportCertPathAndAuth(t *testing.T) {
	conf := `conn rw
	left=192.0.2.1
	right=%any
	leftauth=pubkey
	rightauth=pubkey
	leftcert=/etc/ipsec.d/certs/gw.pem
	rightid=@client.example
	rightcert=/etc/ipsec.d/certs/client.pem
`
	res, cs := convert(t, conf, Options{})
	c := cs[0]
	if c.Auth != "cert" || c.Cert != "/etc/ipsec.d/certs/gw.pem" || c.Key != "/etc/ipsec.d/certs/gw.key" || c.CA != "/etc/oemesh/certs/ca.crt" ||
		c.LocalID != "%fromcert" || c.RemoteID != "@client.example" {
		t.Errorf("cert conn: %+v", c)
	}
	y := res.YAML()
	if !strings.Contains(y, "no rightca=: put the CA certificates") || !strings.Contains(y, "the private key is expected in /etc/ipsec.d/certs/gw.key") {
		t.Errorf("notes missing:\n%s", y)
	}
	if len(res.Unsupported) != 1 || res.Unsupported[0].Key != "rightcert=/etc/ipsec.d/certs/client.pem" {
		t.Errorf("not carried over: %v", res.Unsupported)
	}

	_, err := Convert(mustParse(t, "conn x\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tleftauth=secret\n\tleftcert=gw\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "ipsec.conf:5: conn x: leftcert: a certificate with authby/leftauth psk") {
		t.Errorf("leftcert with a PSK: %v", err)
	}
	_, err = Convert(mustParse(t, "conn x\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\trightauth=eap\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `conn x: rightauth: unknown authentication "eap"`) {
		t.Errorf("rightauth=eap: %v", err)
	}
}

// TestImportCertIDsWithoutCert: %fromcert and DN IDs without leftcert are
// listed as not carried over, as before certificates were imported.
func TestImportCertIDsWithoutCert(t *testing.T) {
	res, cs := convert(t, "conn x\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tleftid=%fromcert\n\trightid=\"CN=peer\"\n\trightca=%same\n", Options{})
	if cs[0].Auth != "pubkey" || cs[0].LocalID != "" || cs[0].RemoteID != "" {
		t.Errorf("conn: %+v", cs[0])
	}
	var keys []string
	for _, p := range res.Unsupported {
		keys = append(keys, p.Key)
	}
	if got := strings.Join(keys, " "); got != "leftid=%fromcert rightid=CN=peer rightca=%same" {
		t.Errorf("not carried over: %s", got)
	}
}

func mustParse(t *testing.T, conf string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(conf), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	return f
}
