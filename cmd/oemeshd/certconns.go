package main

// Certificates of the conns with auth cert. The engine has one
// credential set, so every such conn authenticates us with the same
// certificate and key (the files of the configuration's cert conns, which
// must agree); each conn has its own CA bundle. The engine hands a peer's
// chain and the identity it claims to connCerts.VerifyCert, which tries the CA
// bundles of the cert conns whose remote_id is that identity (or that name
// none): a peer is accepted when a conn that may be its conn trusts its
// CA. Which of those conns it then gets is oe/conn's choice by address and
// ID, as for every other kind of authentication.
//
// The certificate and key are read again on SIGHUP (connCerts.reload,
// through ike.Engine.SetCertCredential): a renewed certificate
// is used from the next IKE_AUTH on; a file that does not load keeps the
// old credentials and is logged with the reason.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// certConn is what the verifier needs of one conn with auth cert.
type certConn struct {
	remoteID ike.Identity // zero: the conn names no peer identity
	ca       string       // the CA bundle's path
}

// connCerts holds the certificate material of the cert conns.
type connCerts struct {
	mu        sync.Mutex
	conns     map[string]certConn            // by conn name
	verifiers map[string]*certs.Verifier     // by CA bundle path
	cas       map[string][]*x509.Certificate // by CA bundle path
	// certFile and keyFile are the engine's certificate and key, cred
	// the credential the engine was built with, localID the identity
	// we claim with it (zero: the subject DN), serial the certificate
	// in use (for the SIGHUP log).
	certFile, keyFile string
	cred              *ike.CertCredential
	localID           ike.Identity
	serial            string
}

// certDNIdentity parses a remote_id written as a distinguished name.
func certDNIdentity(s string) (ike.Identity, error) {
	der, err := certs.ParseDNText(s)
	if err != nil {
		return ike.Identity{}, err
	}
	return ike.Identity{Type: ike.IDDerASN1DN, Data: der}, nil
}

// connRemoteIdentity is a conn's remote_id as an IKE identity: a DN with
// auth cert when it has an '=', an @fqdn or an address otherwise.
func connRemoteIdentity(c config.Conn) (ike.Identity, error) {
	if c.Auth == "cert" && strings.Contains(c.RemoteID, "=") {
		return certDNIdentity(c.RemoteID)
	}
	return parseID(c.RemoteID), nil
}

// loadKeyPair reads a conn's certificate and key; the key file must be
// readable by its owner only, as the PSK secrets file.
func loadKeyPair(c config.Conn) (*certs.KeyPair, error) {
	st, err := os.Stat(c.Key)
	if err != nil {
		return nil, connError("", c.Name, "key", err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return nil, connError("", c.Name, "key", fmt.Errorf("private key file %s has mode %04o: others can read the key; it must be 0600 (chmod 600 %s)", c.Key, m, c.Key))
	}
	kp, err := certs.LoadKeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, connError("", c.Name, "cert", err)
	}
	return kp, nil
}

// checkLocalID checks that a conn's local_id, when it is a SAN, is in the
// certificate, and returns the identity we claim (zero: the subject DN).
func checkLocalID(c config.Conn, leaf *x509.Certificate) (ike.Identity, error) {
	if c.LocalID == "" || c.LocalID == "%fromcert" {
		return ike.Identity{}, nil
	}
	id := parseID(c.LocalID)
	if a, ok := id.Addr(); ok {
		for _, ip := range leaf.IPAddresses {
			if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a {
				return id, nil
			}
		}
	} else {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(n, "."), strings.TrimSuffix(string(id.Data), ".")) {
				return id, nil
			}
		}
	}
	return id, connError("", c.Name, "local_id", fmt.Errorf("%s is not a subjectAltName of %s (subject %q; DNS names %v, addresses %v): use %%fromcert or one of them",
		c.LocalID, c.Cert, leaf.Subject, leaf.DNSNames, leaf.IPAddresses))
}

// load reads and checks the files of the cert conns among conns: every
// key matches its certificate, every CA bundle loads, every DN parses,
// and all of them use the engine's one certificate. Nothing changes
// unless all of them are good. engineCert says whether the engine was
// built with a certificate already (conns added later must use it).
func (cc *connCerts) load(conns []config.Conn, engineCert bool) error {
	var errs []error
	fresh := map[string]certConn{}
	cas := map[string][]*x509.Certificate{}
	verifiers := map[string]*certs.Verifier{}
	var kp *certs.KeyPair
	var first config.Conn
	var localID ike.Identity
	cc.mu.Lock()
	certFile, keyFile := cc.certFile, cc.keyFile
	cc.mu.Unlock()
	for _, c := range conns {
		if c.Auth != "cert" {
			continue
		}
		rid, err := connRemoteIdentity(c)
		if c.RemoteID == "" {
			rid = ike.Identity{}
		}
		if err != nil {
			errs = append(errs, connError("", c.Name, "remote_id", err))
			continue
		}
		if _, ok := cas[c.CA]; !ok {
			bundle, err := certs.LoadCABundle(c.CA)
			if err != nil {
				errs = append(errs, connError("", c.Name, "ca", err))
				continue
			}
			v, err := certs.New(certs.Config{Roots: bundle})
			if err != nil {
				errs = append(errs, connError("", c.Name, "ca", err))
				continue
			}
			cas[c.CA], verifiers[c.CA] = bundle, v
		}
		fresh[c.Name] = certConn{remoteID: rid, ca: c.CA}
		switch {
		case certFile != "" && (c.Cert != certFile || c.Key != keyFile):
			errs = append(errs, connError("", c.Name, "cert", fmt.Errorf("%s and %s differ from the certificate the daemon authenticates with (%s, %s): oemeshd has one certificate for all conns",
				c.Cert, c.Key, certFile, keyFile)))
			continue
		case kp != nil && (c.Cert != first.Cert || c.Key != first.Key):
			errs = append(errs, connError("", c.Name, "cert", fmt.Errorf("%s and %s differ from conn %s's %s and %s: oemeshd has one certificate for all conns",
				c.Cert, c.Key, first.Name, first.Cert, first.Key)))
			continue
		case kp != nil:
			continue
		}
		if kp, err = loadKeyPair(c); err != nil {
			errs = append(errs, err)
			continue
		}
		if localID, err = checkLocalID(c, kp.Leaf()); err != nil {
			errs = append(errs, err)
			kp = nil
			continue
		}
		first, certFile, keyFile = c, c.Cert, c.Key
	}
	if len(fresh) > 0 && !engineCert {
		errs = append(errs, errors.New("auth cert: the IKE engine was started without a certificate and a CA (no conn of the configuration file has auth cert): add the conns there and restart"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.conns == nil {
		cc.conns, cc.verifiers, cc.cas = map[string]certConn{}, map[string]*certs.Verifier{}, map[string][]*x509.Certificate{}
	}
	for _, c := range conns {
		delete(cc.conns, c.Name) // a conn replaced by one without auth cert
	}
	for k, v := range fresh {
		cc.conns[k] = v
	}
	for k, v := range verifiers {
		cc.verifiers[k], cc.cas[k] = v, cas[k]
	}
	if kp != nil && cc.cred == nil {
		cc.certFile, cc.keyFile, cc.localID = certFile, keyFile, localID
		cc.cred = newCertCredential(kp, localID)
		cc.serial = kp.Leaf().SerialNumber.String()
	}
	return nil
}

// newCertCredential is the engine's view of our certificate. The chain
// goes into every IKE_AUTH: a configured peer may not have it, and
// Libreswan's default (sendcert=always) does the same.
func newCertCredential(kp *certs.KeyPair, id ike.Identity) *ike.CertCredential {
	return &ike.CertCredential{Chain: kp.DER(), Signer: kp.Key, ID: id, Send: ike.SendCertAlways}
}

// credential is the engine's Credentials.Cert: nil without cert conns.
func (cc *connCerts) credential() *ike.CertCredential {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.cred
}

// authorities are the CERTREQ hashes of every CA of the cert conns'
// bundles, sorted so that the request is the same from run to run.
func (cc *connCerts) authorities() [][]byte {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var out [][]byte
	for _, bundle := range cc.cas {
		for _, ca := range bundle {
			h := ike.CAKeyHash(ca)
			if !slices.ContainsFunc(out, func(x []byte) bool { return bytes.Equal(x, h) }) {
				out = append(out, h)
			}
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// VerifyCert implements ike.CertVerifier over the CA bundles of the cert
// conns that may be the peer's: the chain must lead to one of their roots,
// be valid now, allow signing, and name the identity the peer claims
// (certs.Verifier). The first error of the bundles tried is returned, so
// the log names its reason.
func (cc *connCerts) VerifyCert(ctx context.Context, chain [][]byte, peer ike.Identity) (crypto.PublicKey, error) {
	cc.mu.Lock()
	var tried []string
	var vs []*certs.Verifier
	for _, c := range cc.conns {
		if c.remoteID.Type != 0 && !ike.SameIdentity(c.remoteID, peer) {
			continue
		}
		if !slices.Contains(tried, c.ca) {
			tried = append(tried, c.ca)
			vs = append(vs, cc.verifiers[c.ca])
		}
	}
	cc.mu.Unlock()
	if len(vs) == 0 {
		return nil, fmt.Errorf("no conn with auth cert has remote_id %v", peer)
	}
	var first error
	for i, v := range vs {
		res, err := v.Verify(ctx, chain, certs.ID{Type: certs.IDType(peer.Type), Data: peer.Data})
		if err == nil {
			return res.PublicKey, nil
		}
		if first == nil {
			first = fmt.Errorf("CA bundle %s: %w", tried[i], err)
		}
	}
	return nil, first
}

// certSetter is how a reload reaches the engine (ike.Engine).
type certSetter interface {
	SetCertCredential(*ike.CertCredential) error
}

// reload reads the engine's certificate and key again (SIGHUP). A good
// pair replaces the one in use from the next IKE_AUTH; a bad one is
// logged with the file and the reason, and the old pair stays.
func (cc *connCerts) reload(e certSetter, log *slog.Logger) {
	cc.mu.Lock()
	has, certFile, keyFile, localID, old := cc.cred != nil, cc.certFile, cc.keyFile, cc.localID, cc.serial
	cc.mu.Unlock()
	if !has {
		return
	}
	kp, err := loadKeyPair(config.Conn{Name: "(engine certificate)", Cert: certFile, Key: keyFile})
	if err == nil && localID.Type != 0 {
		_, err = checkLocalID(config.Conn{Name: "(engine certificate)", Cert: certFile, LocalID: peerIDText(localID)}, kp.Leaf())
	}
	if err == nil {
		err = e.SetCertCredential(newCertCredential(kp, localID))
	}
	if err != nil {
		log.Error("SIGHUP: certificate not reloaded; keeping the one in use", "cert", certFile, "key", keyFile, "err", err)
		return
	}
	s := kp.Leaf().SerialNumber.String()
	cc.mu.Lock()
	cc.serial = s
	cc.mu.Unlock()
	log.Info("SIGHUP: certificate reloaded", "cert", certFile, "subject", kp.Leaf().Subject.String(),
		"serial", s, "old_serial", old, "not_after", kp.Leaf().NotAfter)
}

// certConfig adds the cert conns' certificate, verifier and CA hashes to
// the engine's configuration. Without cert conns it adds nothing: CERT
// payloads are then ignored and raw keys verify peers, as before
// certificates were supported. The engine has one certificate: one that
// cfg holds already (another part of the configuration's) and the conns'
// cannot both be used.
func (d *daemon) certConfig(cfg ike.EngineConfig) (ike.EngineConfig, error) {
	cred := d.conns.certs.credential()
	if cred == nil {
		return cfg, nil
	}
	if cfg.Credentials.Cert != nil {
		d.conns.certs.mu.Lock()
		file := d.conns.certs.certFile
		d.conns.certs.mu.Unlock()
		return cfg, fmt.Errorf("conns: certificate %s: the IKE engine has one certificate, and another one is configured for it already (oe.cert): use one of them", file)
	}
	cfg.Credentials.Cert = cred
	cfg.CertVerifier = &d.conns.certs
	cfg.CertAuthorities = d.conns.certs.authorities()
	return cfg, nil
}
