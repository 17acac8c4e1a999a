package ipsecconf

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Certificates in ipsec.conf, and how they become oemesh's auth cert:
//
//   - leftcert= names our certificate. Libreswan keeps certificates and
//     keys in its NSS database under a nickname; strongSwan's stroke
//     ipsec.conf names a file under /etc/ipsec.d/certs. oemesh reads PEM
//     files, so a name that is not an absolute path becomes
//     <cert-dir>/<name>.crt and <cert-dir>/<name>.key, and a note says
//     how to export them from NSS. An absolute path is kept as cert:, and
//     its key is guessed beside it (.key), with a note to check.
//   - rightca= names the CA the peer's certificate must chain to, as a
//     DN (or %same). oemesh's ca: is a file: <cert-dir>/ca.crt, with a
//     note naming the DN whose certificate belongs there. Without
//     rightca= Libreswan trusts every CA of its NSS database: the same
//     file, and a note.
//   - leftid=%fromcert is oemesh's default with a certificate; rightid=
//     and leftid= as a DN ("C=CH, O=Example, CN=peer") are kept.
//   - authby=rsasig (or leftauth=/rightauth= pubkey or rsasig) with a
//     leftcert= is auth: cert.
//
// Anything else about certificates (rightcert=, sendcert=, a
// mixed leftauth/rightauth) is listed as not carried over.

// defaultCertDir is where certificates are expected when Options.CertDir
// is empty.
const defaultCertDir = "/etc/oemesh/certs"

// certSettings collects a conn's certificate settings while it is read.
type certSettings struct {
	localCert, remoteCert, localCA, remoteCA, localAuth, remoteAuth, sendCert *Setting
	localID, remoteID                                                         *Setting // %fromcert or a DN
}

func (cs *certSettings) set(side, key string, st Setting) {
	p := &st
	switch {
	case key == "cert" && side == "local":
		cs.localCert = p
	case key == "cert":
		cs.remoteCert = p
	case key == "ca" && side == "local":
		cs.localCA = p
	case key == "ca":
		cs.remoteCA = p
	case key == "auth" && side == "local":
		cs.localAuth = p
	case key == "auth":
		cs.remoteAuth = p
	case key == "sendcert":
		cs.sendCert = p
	case key == "id" && side == "local":
		cs.localID = p
	case key == "id":
		cs.remoteID = p
	}
}

// authMethod maps leftauth=/rightauth= to oemesh's auth; "" when unknown.
func authMethod(v string) string {
	switch v {
	case "pubkey", "rsasig", "rsa", "ecdsa", "rsa-sha2", "ecdsa-sha2":
		return "pubkey"
	case "secret", "psk":
		return "psk"
	case "null":
		return "null"
	}
	return ""
}

// apply turns the collected settings into c's auth, cert, key and ca.
func (cs *certSettings) apply(c *Conn, me, peer string, opts Options, unsupported func(Setting, string), bad func(Setting, string, ...any) error) error {
	dir := opts.CertDir
	if dir == "" {
		dir = defaultCertDir
	}
	// leftauth/rightauth: oemesh's auth is one method for both sides.
	for _, st := range []*Setting{cs.localAuth, cs.remoteAuth} {
		if st == nil {
			continue
		}
		m := authMethod(st.Value)
		if m == "" {
			return bad(*st, "unknown authentication %q", st.Value)
		}
		if c.Auth != "" && c.Auth != m {
			unsupported(*st, fmt.Sprintf("oemesh authenticates both sides the same way; this conn uses %s", c.Auth))
			continue
		}
		c.Auth = m
	}
	if cs.remoteCert != nil {
		unsupported(*cs.remoteCert, "the peer's certificate comes in IKE_AUTH; only its CA is configured (ca:)")
	}
	if cs.localCA != nil {
		unsupported(*cs.localCA, "our CA is not configured: the peer is sent our certificate and its intermediates (put them in the cert: file)")
	}
	if cs.sendCert != nil && cs.sendCert.Value != "always" && cs.sendCert.Value != "yes" {
		unsupported(*cs.sendCert, "oemesh always sends its certificate to a configured peer")
	}
	if cs.localCert == nil {
		if cs.remoteCA != nil {
			unsupported(*cs.remoteCA, "without "+me+"cert= the conn does not use certificates")
		}
		for _, st := range []*Setting{cs.localID, cs.remoteID} {
			switch {
			case st == nil:
			case st.Value == "%fromcert":
				unsupported(*st, "special ID not supported; the peer's address is used")
			default:
				unsupported(*st, "only address and @fqdn IDs are supported (a DN needs "+me+"cert=)")
			}
		}
		return nil
	}
	if c.Auth != "" && c.Auth != "pubkey" {
		return bad(*cs.localCert, "a certificate with authby/%sauth %s: certificates sign (authby=rsasig)", me, c.Auth)
	}
	c.Auth = "cert"
	v := cs.localCert.Value
	if filepath.IsAbs(v) {
		c.Cert = v
		c.Key = strings.TrimSuffix(v, filepath.Ext(v)) + ".key"
		c.Notes = append(c.Notes, fmt.Sprintf("%scert=%s: the private key is expected in %s (PEM PKCS#8, PKCS#1 or SEC1, mode 0600); move it there or edit key:", me, v, c.Key))
	} else {
		base := strings.TrimSuffix(filepath.Base(v), filepath.Ext(v))
		c.Cert = filepath.Join(dir, base+".crt")
		c.Key = filepath.Join(dir, base+".key")
		c.Notes = append(c.Notes, fmt.Sprintf("%scert=%s is an NSS nickname or a file under ipsec.d: put the certificate (PEM, then its intermediates) in %s and its key (mode 0600) in %s; from Libreswan's NSS: `certutil -L -d sql:/var/lib/ipsec/nss -n %q -a > %s` and `pk12util -o key.p12 -n %q -d sql:/var/lib/ipsec/nss`, then `openssl pkcs12 -in key.p12 -nocerts -nodes -out %s`",
			me, v, c.Cert, c.Key, v, c.Cert, v, c.Key))
	}
	c.CA = filepath.Join(dir, "ca.crt")
	switch {
	case cs.remoteCA == nil:
		c.Notes = append(c.Notes, fmt.Sprintf("no %sca=: put the CA certificates the peer's certificate may chain to in %s (Libreswan trusted every CA of its NSS database)", peer, c.CA))
	case cs.remoteCA.Value == "%same":
		c.Notes = append(c.Notes, fmt.Sprintf("%sca=%%same: put the CA that issued our certificate in %s", peer, c.CA))
	default:
		c.Notes = append(c.Notes, fmt.Sprintf("%sca=%s: put that CA's certificate in %s", peer, cs.remoteCA.Value, c.CA))
	}
	if cs.localID != nil {
		c.LocalID = cs.localID.Value
	}
	if c.LocalID == "" {
		c.LocalID = "%fromcert"
	}
	if cs.remoteID != nil {
		c.RemoteID = cs.remoteID.Value
	}
	return nil
}

// isDN reports whether an ID is written as a distinguished name.
func isDN(v string) bool {
	return strings.Contains(v, "=") && !strings.HasPrefix(v, "@") && !strings.HasPrefix(v, "%")
}
