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
// The certificate and key, the CA bundles and the CRLs are read again on
// SIGHUP (connCerts.reload; the certificate through enginecert.go): a
// renewed certificate is used from the next IKE_AUTH on, a renewed CA
// bundle or CRL for the next peer; a file that does not load keeps what
// was in use and is logged with the reason. Revocation (a conn's crl: and
// ocsp:, and certs.*) is revocation.go's.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// trust is what a cert conn's verifier is built from: its CA bundle, its
// own CRLs and its OCSP mode. Conns with the same trust share a verifier
// (and its OCSP cache).
type trust struct {
	ca, crl string // paths; crl may be empty
	ocsp    certs.OCSPMode
}

// certConn is what the verifier needs of one conn with auth cert.
type certConn struct {
	remoteID ike.Identity // zero: the conn names no peer identity
	trust    trust
}

// connCerts holds the certificate material of the cert conns.
type connCerts struct {
	// rev is certs.* (revocation.go); nil: no global CRLs, OCSP off.
	rev       *revocation
	mu        sync.Mutex
	conns     map[string]certConn            // by conn name
	verifiers map[trust]*certs.Verifier      // by what they trust
	cas       map[string][]*x509.Certificate // by CA bundle path
	// cert is the engine's certificate and key (enginecert.go): the one
	// the cert conns name; nil until a cert conn is loaded.
	cert *engineCert
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
	if err := checkKeyFileMode(c.Key); err != nil {
		return nil, connError("", c.Name, "key", err)
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
// key matches its certificate, every CA bundle and CRL loads, every DN
// parses, and all of them use the engine's one certificate. Nothing
// changes unless all of them are good. engineCert says whether the engine
// was built with a certificate already (conns added later must use it).
func (cc *connCerts) load(conns []config.Conn, engineCert bool) error {
	var errs []error
	fresh := map[string]certConn{}
	cas := map[string][]*x509.Certificate{}
	verifiers := map[trust]*certs.Verifier{}
	var kp *certs.KeyPair
	var first config.Conn
	var localID ike.Identity
	cc.mu.Lock()
	certFile, keyFile := cc.cert.files()
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
		tr := trust{ca: c.CA, crl: c.CRL, ocsp: cc.rev.mode(c.OCSP)}
		if _, ok := verifiers[tr]; !ok {
			v, bundle, key, err := cc.newVerifier(tr)
			if err != nil {
				errs = append(errs, connError("", c.Name, key, err))
				continue
			}
			cas[c.CA], verifiers[tr] = bundle, v
		}
		fresh[c.Name] = certConn{remoteID: rid, trust: tr}
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
		if kp, localID, err = loadConnKeyPair(c); err != nil {
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
		cc.conns, cc.verifiers, cc.cas = map[string]certConn{}, map[trust]*certs.Verifier{}, map[string][]*x509.Certificate{}
	}
	for _, c := range conns {
		delete(cc.conns, c.Name) // a conn replaced by one without auth cert
	}
	for k, v := range fresh {
		cc.conns[k] = v
	}
	for k, v := range verifiers {
		cc.verifiers[k], cc.cas[k.ca] = v, cas[k.ca]
	}
	if kp != nil && cc.cert == nil {
		c := first
		cc.cert = newEngineCert(c.Cert, c.Key, localID, kp, func() (*certs.KeyPair, error) {
			kp, _, err := loadConnKeyPair(config.Conn{Name: "(engine certificate)", Cert: c.Cert, Key: c.Key, LocalID: c.LocalID})
			return kp, err
		})
	}
	return nil
}

// loadConnKeyPair reads a cert conn's certificate and key and checks its
// local_id against the certificate; the identity is the one we claim
// (zero: the subject DN).
func loadConnKeyPair(c config.Conn) (*certs.KeyPair, ike.Identity, error) {
	kp, err := loadKeyPair(c)
	if err != nil {
		return nil, ike.Identity{}, err
	}
	id, err := checkLocalID(c, kp.Leaf())
	if err != nil {
		return nil, ike.Identity{}, err
	}
	return kp, id, nil
}

// newVerifier reads the CA bundle and the CRLs of tr and builds its
// verifier, with certs.crls and the OCSP settings. An error comes with
// the conn key whose file is at fault (ca or crl).
func (cc *connCerts) newVerifier(tr trust) (v *certs.Verifier, bundle []*x509.Certificate, key string, err error) {
	bundle, err = certs.LoadCABundle(tr.ca)
	if err != nil {
		return nil, nil, "ca", err
	}
	var crls []*x509.RevocationList
	if tr.crl != "" {
		if crls, err = certs.LoadCRLs(tr.crl); err != nil {
			return nil, nil, "crl", err
		}
	}
	v, err = certs.New(cc.rev.verifierConfig(bundle, crls, tr.ocsp))
	if err != nil {
		return nil, nil, "ca", err
	}
	return v, bundle, "", nil
}

// credential is the engine's Credentials.Cert: nil without cert conns.
func (cc *connCerts) credential() *ike.CertCredential {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.cert.credential()
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
	var tried []trust
	var vs []*certs.Verifier
	for _, c := range cc.conns {
		if c.remoteID.Type != 0 && !ike.SameIdentity(c.remoteID, peer) {
			continue
		}
		if !slices.Contains(tried, c.trust) {
			tried = append(tried, c.trust)
			vs = append(vs, cc.verifiers[c.trust])
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
			first = fmt.Errorf("CA bundle %s: %w", tried[i].ca, err)
		}
	}
	return nil, first
}

// reload reads the engine's certificate and key, the CA bundles and the
// CRLs of the cert conns again (SIGHUP). A good certificate replaces the
// one in use from the next IKE_AUTH; a good CA bundle and CRLs replace a
// verifier (and the CAs our CERTREQ names) for the next peer. A file that
// does not load is logged with the reason, and what it would have
// replaced stays.
func (cc *connCerts) reload(e certSetter, log *slog.Logger) {
	cc.mu.Lock()
	cert := cc.cert
	cc.mu.Unlock()
	cert.reload(e, log)
	if !cc.reloadTrust(log) {
		return
	}
	if err := e.SetCertAuthorities(cc.authorities()); err != nil {
		log.Error("SIGHUP: the CAs our CERTREQ names were not updated", "err", err)
	}
}

// reloadTrust rebuilds the verifier of every trust in use, keeping the
// old one of a trust whose files do not load. It reports whether any
// verifier was rebuilt.
func (cc *connCerts) reloadTrust(log *slog.Logger) bool {
	cc.mu.Lock()
	users := map[trust][]string{}
	for name, c := range cc.conns {
		users[c.trust] = append(users[c.trust], name)
	}
	cc.mu.Unlock()
	changed := false
	for tr, names := range users {
		slices.Sort(names)
		v, bundle, key, err := cc.newVerifier(tr)
		if err != nil {
			log.Error("SIGHUP: CA bundle or CRLs not reloaded; the conns keep the ones in use",
				"conns", names, "key", key, "ca", tr.ca, "crl", tr.crl, "err", err)
			continue
		}
		cc.mu.Lock()
		cc.verifiers[tr], cc.cas[tr.ca] = v, bundle
		cc.mu.Unlock()
		changed = true
		log.Info("SIGHUP: CA bundle and CRLs reloaded", "conns", names, "ca", tr.ca, "cas", len(bundle), "crl", tr.crl)
	}
	return cc.prune() || changed
}

// prune forgets the verifiers and CA bundles no cert conn uses any more
// (conns replaced by others since), so that our CERTREQ stops naming
// their CAs. It reports whether it forgot any.
func (cc *connCerts) prune() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	trusts, cas := map[trust]bool{}, map[string]bool{}
	for _, c := range cc.conns {
		trusts[c.trust], cas[c.trust.ca] = true, true
	}
	n := len(cc.verifiers) + len(cc.cas)
	maps.DeleteFunc(cc.verifiers, func(tr trust, _ *certs.Verifier) bool { return !trusts[tr] })
	maps.DeleteFunc(cc.cas, func(ca string, _ []*x509.Certificate) bool { return !cas[ca] })
	return len(cc.verifiers)+len(cc.cas) != n
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
		file, _ := d.conns.certs.cert.files()
		d.conns.certs.mu.Unlock()
		return cfg, fmt.Errorf("conns: certificate %s: the IKE engine has one certificate, and another one is configured for it already (oe.cert): use one of them", file)
	}
	cfg.Credentials.Cert = cred
	cfg.CertVerifier = &d.conns.certs
	cfg.CertAuthorities = d.conns.certs.authorities()
	return cfg, nil
}

// pushCertAuthorities hands the engine the CAs of the cert conns after a
// conn add or replace, so that our CERTREQ names the new conns' CAs too.
func (d *daemon) pushCertAuthorities() {
	if d.stack == nil || d.conns.certs.credential() == nil {
		return
	}
	if err := d.stack.Engine().SetCertAuthorities(d.conns.certs.authorities()); err != nil {
		d.log.Error("the CAs our CERTREQ names were not updated", "err", err)
	}
}
