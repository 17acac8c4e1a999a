package main

// Certificates of the conns with auth cert. Each conn authenticates us
// with its own cert: and key: (conns that name the same files and
// local_id share one credential); they reach the engine as
// Credentials.Certs, beside oe.cert, which alone is the default a NULL OE
// client may get. The conn's initiations use its own (oe/conn's
// Config.Cert, credentialFor); as responder, the engine chooses by the
// identity the peer asks for in IDr, then by the CAs its CERTREQ names
// (ike/certselect.go, with certHoldsID as CertNameMatch). Each conn has
// its own CA bundle. The engine hands a peer's chain and the identity it
// claims to connCerts.VerifyCert, which tries the CA bundles of the cert
// conns whose remote_id is that identity (or that name none): a peer is
// accepted when a conn that may be its conn trusts its CA. Which of those
// conns it then gets is oe/conn's choice by address and ID, as for every
// other kind of authentication.
//
// The certificates and keys, the CA bundles and the CRLs are read again
// on SIGHUP (connCerts.reload; each certificate through enginecert.go): a
// renewed certificate is used from the next IKE_AUTH on, a renewed CA
// bundle or CRL for the next peer; a file that does not load keeps what
// was in use and is logged with the reason, and the others still reload.
// Revocation (a conn's crl: and ocsp:, and certs.*) is revocation.go's.

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
	"github.com/oemesh/oemesh/internal/rsasign"
)

// trust is what a cert conn's verifier is built from: its CA bundle, its
// own CRLs and its OCSP mode. Conns with the same trust share a verifier
// (and its OCSP cache).
type trust struct {
	ca, crl string // paths; crl may be empty
	ocsp    certs.OCSPMode
}

// certConn is what the verifier and the initiator need of one conn with
// auth cert.
type certConn struct {
	remoteID ike.Identity // zero: the conn names no peer identity
	trust    trust
	own      ownCert // the certificate it authenticates us with
}

// ownCert names one of our certificates: its files, and the local_id a
// conn claims with it. Conns with the same ownCert share the credential.
type ownCert struct{ cert, key, localID string }

// compareOwn orders ownCerts, so that the engine gets them in the same
// order from run to run.
func compareOwn(a, b ownCert) int {
	return strings.Compare(a.cert+"\x00"+a.key+"\x00"+a.localID, b.cert+"\x00"+b.key+"\x00"+b.localID)
}

// connCerts holds the certificate material of the cert conns.
type connCerts struct {
	// rev is certs.* (revocation.go); nil: no global CRLs, OCSP off.
	rev       *revocation
	mu        sync.Mutex
	conns     map[string]certConn            // by conn name
	verifiers map[trust]*certs.Verifier      // by what they trust
	cas       map[string][]*x509.Certificate // by CA bundle path
	// ours are our certificates (enginecert.go), one per ownCert the cert
	// conns name; the engine has them as Credentials.Certs.
	ours map[ownCert]*engineCert
	// inEngine says the engine was built with these (certConfig): its
	// CertVerifier is cc, and later cert conns may join.
	inEngine bool
	// keys give RSA keys the signer crypto.rsa chose; nil: keys as read.
	keys *rsasign.Signers
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
// parses. Nothing changes unless all of them are good. engine says
// whether the engine verifies certificates with cc (built with cert
// conns); conns added later to one that does not are refused.
func (cc *connCerts) load(conns []config.Conn, engine bool) error {
	var errs []error
	fresh := map[string]certConn{}
	cas := map[string][]*x509.Certificate{}
	verifiers := map[trust]*certs.Verifier{}
	ours := map[ownCert]*engineCert{}
	for _, c := range conns {
		if c.Auth != "cert" {
			continue
		}
		// No remote_id (a road-warrior cert conn, remote %any): any
		// identity the CA vouches for; parsing "" would panic.
		var rid ike.Identity
		if c.RemoteID != "" {
			var err error
			if rid, err = connRemoteIdentity(c); err != nil {
				errs = append(errs, connError("", c.Name, "remote_id", err))
				continue
			}
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
		own := ownCert{cert: c.Cert, key: c.Key, localID: c.LocalID}
		if _, ok := ours[own]; !ok {
			ec, err := loadConnCert(c)
			if err == nil {
				err = ec.signWith(cc.keys)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ours[own] = ec
		}
		fresh[c.Name] = certConn{remoteID: rid, trust: tr, own: own}
	}
	if len(fresh) > 0 && !engine {
		errs = append(errs, errors.New("auth cert: the IKE engine was started without a certificate and a CA (no conn of the configuration file has auth cert): add the conns there and restart"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.conns == nil {
		cc.conns, cc.verifiers, cc.cas = map[string]certConn{}, map[trust]*certs.Verifier{}, map[string][]*x509.Certificate{}
		cc.ours = map[ownCert]*engineCert{}
	}
	for _, c := range conns {
		delete(cc.conns, c.Name) // a conn replaced by one without auth cert
	}
	maps.Copy(cc.conns, fresh)
	for k, v := range verifiers {
		cc.verifiers[k], cc.cas[k.ca] = v, cas[k.ca]
	}
	// The files were just read: what they hold now replaces what conns
	// that share them used, as a SIGHUP would.
	maps.Copy(cc.ours, ours)
	cc.pruneOursLocked()
	return nil
}

// loadConnCert reads the certificate and key of cert conn c, to be
// reloaded from the same files on SIGHUP.
func loadConnCert(c config.Conn) (*engineCert, error) {
	kp, localID, err := loadConnKeyPair(c)
	if err != nil {
		return nil, err
	}
	return newEngineCert(c.Cert, c.Key, localID, kp, func() (*certs.KeyPair, error) {
		kp, _, err := loadConnKeyPair(c)
		return kp, err
	}), nil
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

// credentials are the engine's Credentials.Certs, one per certificate
// of the cert conns, in a stable order; empty without cert conns.
func (cc *connCerts) credentials() []*ike.CertCredential {
	return cc.credentialsWith(nil, nil)
}

// credentialsWith is credentials, with repl instead of the one in use of
// ec: what the engine gets when ec reloads.
func (cc *connCerts) credentialsWith(ec *engineCert, repl *ike.CertCredential) []*ike.CertCredential {
	var out []*ike.CertCredential
	for _, x := range cc.ourCerts() {
		if x == ec {
			out = append(out, repl)
		} else {
			out = append(out, x.credential())
		}
	}
	return out
}

// ourCerts are our certificates, in the order of their ownCert.
func (cc *connCerts) ourCerts() []*engineCert {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(cc.ours), compareOwn)
	out := make([]*engineCert, len(keys))
	for i, k := range keys {
		out[i] = cc.ours[k]
	}
	return out
}

// credentialFor is the certificate conn authenticates us with (oe/conn's
// Config.Cert); nil for a conn without auth cert.
func (cc *connCerts) credentialFor(conn string) *ike.CertCredential {
	cc.mu.Lock()
	c, ok := cc.conns[conn]
	ec := cc.ours[c.own]
	cc.mu.Unlock()
	if !ok {
		return nil
	}
	return ec.credential()
}

// engineVerifies reports whether the engine was built with the cert
// conns (certConfig), so that more may be added.
func (cc *connCerts) engineVerifies() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.inEngine
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

// reload reads the certificates and keys, the CA bundles and the CRLs of
// the cert conns again (SIGHUP). A good certificate replaces the one in
// use from the next IKE_AUTH; a good CA bundle and CRLs replace a
// verifier (and the CAs our CERTREQ names) for the next peer. A file that
// does not load is logged with the reason, and what it would have
// replaced stays; the others still reload.
func (cc *connCerts) reload(e certSetter, log *slog.Logger) {
	for _, ec := range cc.ourCerts() {
		ec.reload(func(c *ike.CertCredential) error { return e.SetCertCredentials(cc.credentialsWith(ec, c)) }, log)
	}
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

// pruneOursLocked forgets the certificates no cert conn uses any more.
// Called with cc.mu held.
func (cc *connCerts) pruneOursLocked() {
	used := map[ownCert]bool{}
	for _, c := range cc.conns {
		used[c.own] = true
	}
	maps.DeleteFunc(cc.ours, func(k ownCert, _ *engineCert) bool { return !used[k] })
}

// certConfig adds the cert conns' certificates, verifier and CA hashes
// to the engine's configuration. Without cert conns it adds nothing: CERT
// payloads are then ignored and raw keys verify peers, as before
// certificates were supported. Their certificates are the further ones
// (Credentials.Certs): the default (Credentials.Cert) is oe.cert's, the
// only one a NULL OE client may get.
func (d *daemon) certConfig(cfg ike.EngineConfig) ike.EngineConfig {
	creds := d.conns.certs.credentials()
	if len(creds) == 0 {
		return cfg
	}
	cfg.Credentials.Certs = creds
	cfg.CertVerifier = &d.conns.certs
	cfg.CertAuthorities = d.conns.certs.authorities()
	d.conns.certs.mu.Lock()
	d.conns.certs.inEngine = true
	d.conns.certs.mu.Unlock()
	return cfg
}

// certHoldsID is the engine's CertNameMatch: whether one of our
// certificates holds the identity a peer asks for in IDr, as
// certs.MatchID matches a claimed one (DNs canonically, SANs).
func certHoldsID(c *x509.Certificate, id ike.Identity) bool {
	return certs.MatchID(c, certs.ID{Type: certs.IDType(id.Type), Data: id.Data}) == nil
}

// pushConnCerts hands the engine the certificates and CAs of the cert
// conns after a conn add or replace, so that the new conns' certificates
// answer their peers and our CERTREQ names their CAs.
func (d *daemon) pushConnCerts() {
	if d.stack == nil || !d.conns.certs.engineVerifies() {
		return
	}
	e := d.stack.Engine()
	if err := e.SetCertCredentials(d.conns.certs.credentials()); err != nil {
		d.log.Error("the conns' certificates were not updated in the IKE engine", "err", err)
	}
	if err := e.SetCertAuthorities(d.conns.certs.authorities()); err != nil {
		d.log.Error("the CAs our CERTREQ names were not updated", "err", err)
	}
}
