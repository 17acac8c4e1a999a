package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// ikeToolFlags are the flags probe and respond share: how we authenticate,
// how the peer must, and what we propose.
type ikeToolFlags struct {
	id, auth, peerAuth string
	keyFile, psk       string
	certFile, caFile   string
	sendCert           string
	// moreCerts are respond's --more-cert CERT,KEY values: further
	// certificates it chooses among (ike.Credentials.Certs).
	moreCerts           []string
	peerID, peerKeyFile string
	ikeProps, espProps  string
	pq                  string // "" is prefer, oemeshd's default
	rsa                 string // what signs with an RSA key, as oemeshd's crypto.rsa; "" is auto
	fragThreshold       int
	udpEncap            bool // ike.EngineConfig.ForceUDPEncap
	mark                uint32
	timeout             time.Duration
	debug               bool
	// offersAddKE: this tool offers strongSwan's keN_ keywords (RFC 9370
	// additional key exchanges) as written, one proposal per item, and
	// checks the peer's choice against what oemesh can run: the probe.
	offersAddKE bool
}

func (f *ikeToolFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "our IKE identity: an address, @fqdn, a DN such as \"C=XX, O=Example, CN=a.example\", or %null (default: our address; with --auth cert the certificate's subject DN)")
	fl.StringVar(&f.auth, "auth", "null", "how we authenticate: null, key, cert or psk")
	fl.StringVar(&f.peerAuth, "peer-auth", "", "how the peer must authenticate: null, key, cert or psk (default: as --auth)")
	fl.StringVar(&f.keyFile, "key", defaultHostKey, "our private key (PKCS#8 PEM) for --auth key or cert")
	fl.StringVar(&f.certFile, "cert", "", "our certificate (PEM), followed by the intermediates to send with it, for --auth cert")
	fl.StringVar(&f.caFile, "ca", "", "the CA certificates (PEM) a peer that authenticates with a certificate must chain to")
	fl.StringVar(&f.sendCert, "send-cert", "ifasked", "when to send our certificates: ifasked (when the peer sent a CERTREQ), always or never")
	fl.StringVar(&f.psk, "psk", "", "the pre-shared key for --auth psk")
	fl.StringVar(&f.peerID, "peer-id", "", "the identity the peer must prove: an address, @fqdn or %null (default: any)")
	fl.StringVar(&f.peerKeyFile, "peer-key", "", "the peer's public key (PEM SubjectPublicKeyInfo) for a peer that authenticates with a key")
	fl.StringVar(&f.ikeProps, "ike", "", "IKE proposals in strongSwan syntax, e.g. aes128gcm16-prfsha256-x25519 (default: oemesh's)")
	fl.StringVar(&f.pq, "pq", "", "post-quantum hybrid (X25519 + ML-KEM-768) in the default IKE proposals, as oemeshd's ike.pq: prefer, require or off (default prefer; --ike names its own)")
	fl.StringVar(&f.rsa, "rsa", "auto", "what signs with an RSA --key, as oemeshd's crypto.rsa: auto (OpenSSL's libcrypto when it loads, else Go's crypto/rsa), go or openssl")
	fl.StringVar(&f.espProps, "esp", "", "ESP proposals in strongSwan syntax, e.g. aes128gcm16-esn (default: oemesh's)")
	fl.IntVar(&f.fragThreshold, "frag-threshold", 0, "largest IKE message sent unfragmented to a peer that supports RFC 7383 (default: fits a 1280-octet path)")
	fl.BoolVar(&f.udpEncap, "udp-encap", false, "UDP-encapsulate ESP even without a NAT, as oemeshd's kernel.udp_encap: always (a NAT_DETECTION_SOURCE_IP that cannot match)")
	fl.Uint32Var(&f.mark, "mark", 0, "SO_MARK for our IKE sockets (0: none)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up on an exchange after this long")
	fl.BoolVar(&f.debug, "debug", false, "log the engine's debug messages to stderr")
}

// authKind parses an --auth or --peer-auth value.
func authKind(flag, s string) (ike.AuthKind, error) {
	switch strings.ToLower(s) {
	case "null":
		return ike.AuthKindNull, nil
	case "key", "pubkey":
		return ike.AuthKindPubkey, nil
	case "psk":
		return ike.AuthKindPSK, nil
	case "cert", "pubkey-cert", "x509":
		return ike.AuthKindCert, nil
	}
	return ike.AuthKindNone, fmt.Errorf("--%s %q: want null, key, cert or psk", flag, s)
}

// parseIdentity parses --id and --peer-id: "" is the zero identity (our
// address, or any peer), %null is ID_NULL, an address is ID_IPV4_ADDR or
// ID_IPV6_ADDR, ATTR=value pairs are an ID_DER_ASN1_DN, and @name (or a
// name) is ID_FQDN.
func parseIdentity(flag, s string) (ike.Identity, error) {
	switch {
	case s == "":
		return ike.Identity{}, nil
	case strings.EqualFold(s, "%null") || strings.EqualFold(s, "ID_NULL"):
		return ike.NullIdentity(), nil
	case strings.Contains(s, "="):
		id, err := parseDN(s)
		if err != nil {
			return ike.Identity{}, fmt.Errorf("--%s: %w", flag, err)
		}
		return id, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return ike.AddrIdentity(a), nil
	}
	name := strings.TrimSuffix(strings.TrimPrefix(s, "@"), ".")
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsSpace(r) }) {
		return ike.Identity{}, fmt.Errorf("--%s %q: want an address, @fqdn or %%null", flag, s)
	}
	return ike.FQDNIdentity(name), nil
}

// staticKeys is the KeyResolver of the tools: the one --peer-key, for the
// --peer-id identity (or any identity when none was given).
type staticKeys struct {
	id  ike.Identity
	key crypto.PublicKey
}

func (s staticKeys) PeerKeys(_ context.Context, peer ike.Identity, _ netip.Addr) ([]crypto.PublicKey, error) {
	if s.key == nil {
		return nil, fmt.Errorf("no --peer-key given: %w", ike.ErrNoKey)
	}
	if s.id.Type != 0 && (s.id.Type != peer.Type || string(s.id.Data) != string(peer.Data)) {
		return nil, fmt.Errorf("peer identity %v is not --peer-id %v: %w", peer, s.id, ike.ErrNoKey)
	}
	return []crypto.PublicKey{s.key}, nil
}

// ikeSetup is what the flags turn into.
type ikeSetup struct {
	auth, peerAuth ike.AuthKind
	peerID         ike.Identity
	creds          ike.Credentials
	keys           staticKeys
	// certVerifier and certAuthorities check a peer's certificate
	// (--ca); nil and empty without --ca.
	certVerifier    ike.CertVerifier
	certAuthorities [][]byte
	ikePolicy       ike.Policy
	espPolicy       ike.Policy
	// ikeOffer is the exact IKE_SA_INIT offer when --ike names keN_
	// keywords (probe only); nil otherwise.
	ikeOffer []ike.Proposal
	log      *slog.Logger
	// rsaKeys sign with --key and --more-cert's keys (--rsa).
	rsaKeys toolKeys
}

func (f *ikeToolFlags) setup(stderr io.Writer) (*ikeSetup, error) {
	s := &ikeSetup{}
	level := slog.LevelWarn
	if f.debug {
		level = slog.LevelDebug
	}
	s.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	backend := rsasign.Auto
	var err error
	if f.rsa != "" {
		if backend, err = rsasign.ParseBackend(f.rsa); err != nil {
			return nil, fmt.Errorf("--rsa: %w", err)
		}
	}
	s.rsaKeys = toolKeys{backend: backend, log: s.log}
	if s.auth, err = authKind("auth", f.auth); err != nil {
		return nil, err
	}
	s.peerAuth = s.auth
	if f.peerAuth != "" {
		if s.peerAuth, err = authKind("peer-auth", f.peerAuth); err != nil {
			return nil, err
		}
	}
	if s.creds.ID, err = parseIdentity("id", f.id); err != nil {
		return nil, err
	}
	if s.peerID, err = parseIdentity("peer-id", f.peerID); err != nil {
		return nil, err
	}
	if s.auth == ike.AuthKindPubkey {
		if s.creds.Signer, err = s.rsaKeys.load(f.keyFile); err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
	}
	if err := f.setupCerts(s); err != nil {
		return nil, err
	}
	if s.auth == ike.AuthKindPSK || s.peerAuth == ike.AuthKindPSK {
		if f.psk == "" {
			return nil, errors.New("--auth psk needs --psk SECRET")
		}
		psk := []byte(f.psk)
		s.creds.PSK = func(ike.Identity) []byte { return psk }
	}
	s.keys.id = s.peerID
	if f.peerKeyFile != "" {
		if s.keys.key, err = dnskey.LoadPublicKeyPEM(f.peerKeyFile); err != nil {
			return nil, fmt.Errorf("--peer-key: %w", err)
		}
	} else if s.peerAuth == ike.AuthKindPubkey {
		return nil, errors.New("a peer that authenticates with a key needs --peer-key FILE")
	}
	if s.ikePolicy, err = f.defaultIKEPolicy(); err != nil {
		return nil, err
	}
	s.espPolicy = ike.DefaultESPPolicy()
	if f.ikeProps != "" {
		if s.ikePolicy, s.ikeOffer, err = parseIKEFlag(f.ikeProps, f.offersAddKE); err != nil {
			return nil, fmt.Errorf("--ike: %w", err)
		}
	}
	if f.espProps != "" {
		if s.espPolicy, err = ike.ParseProposals(ike.ProtocolESP, f.espProps); err != nil {
			return nil, fmt.Errorf("--esp: %w", err)
		}
	}
	if f.fragThreshold < 0 || (f.fragThreshold > 0 && f.fragThreshold < ike.HeaderLen+64) {
		return nil, fmt.Errorf("--frag-threshold %d: too small to carry a fragment", f.fragThreshold)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	return s, nil
}

// setupCerts loads --cert, --key and --ca for certificate
// authentication, ours (--auth cert) and the peer's (--peer-auth cert).
func (f *ikeToolFlags) setupCerts(s *ikeSetup) error {
	if s.auth == ike.AuthKindCert {
		if f.certFile == "" {
			return errors.New("--auth cert needs --cert FILE (and --key FILE)")
		}
		chain, err := certs.LoadCertificates(f.certFile)
		if err != nil {
			return fmt.Errorf("--cert: %w", err)
		}
		key, err := s.rsaKeys.load(f.keyFile)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		send, err := parseSendCert(f.sendCert)
		if err != nil {
			return err
		}
		cred := &ike.CertCredential{Signer: key, ID: s.creds.ID, Send: send}
		for _, c := range chain {
			cred.Chain = append(cred.Chain, c.Raw)
		}
		s.creds.Cert, s.creds.ID = cred, ike.Identity{}
		for _, v := range f.moreCerts {
			more, err := loadMoreCert(v, send)
			if err != nil {
				return err
			}
			if more.Signer, err = s.rsaKeys.wrap(more.Signer); err != nil {
				return fmt.Errorf("--more-cert: %w", err)
			}
			s.creds.Certs = append(s.creds.Certs, more)
		}
	} else if f.certFile != "" || len(f.moreCerts) > 0 {
		return fmt.Errorf("--cert and --more-cert are for --auth cert, not --auth %s", f.auth)
	}
	if f.caFile != "" {
		cas, err := certs.LoadCABundle(f.caFile)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		if s.certVerifier, err = newCertVerifier(cas); err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		for _, c := range cas {
			s.certAuthorities = append(s.certAuthorities, ike.CAKeyHash(c))
		}
	} else if s.peerAuth == ike.AuthKindCert {
		return errors.New("a peer that authenticates with a certificate needs --ca FILE")
	}
	return nil
}

// loadMoreCert loads one --more-cert CERT,KEY: the certificate file (the
// end entity, then its intermediates) and its key, which must be the
// certificate's. It claims its subject DN, or the name a peer asks for in
// IDr when the certificate holds it.
func loadMoreCert(v string, send ike.SendCert) (*ike.CertCredential, error) {
	i := strings.LastIndexByte(v, ',')
	if i <= 0 || i == len(v)-1 {
		return nil, fmt.Errorf("--more-cert %q: want CERTFILE,KEYFILE", v)
	}
	kp, err := certs.LoadKeyPair(v[:i], v[i+1:])
	if err != nil {
		return nil, fmt.Errorf("--more-cert: %w", err)
	}
	return &ike.CertCredential{Chain: kp.DER(), Signer: kp.Key, Send: send}, nil
}

// parseSendCert parses --send-cert.
func parseSendCert(s string) (ike.SendCert, error) {
	for _, v := range []ike.SendCert{ike.SendCertIfAsked, ike.SendCertAlways, ike.SendCertNever} {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("--send-cert %q: want ifasked, always or never", s)
}

// defaultIKEPolicy is oemeshd's default IKE policy in the --pq mode, the
// same as oemeshd's for the same ike.pq. --pq shapes the default proposals
// only, so it and --ike together are an error rather than one silently
// winning.
func (f *ikeToolFlags) defaultIKEPolicy() (ike.Policy, error) {
	if f.pq == "" {
		return ike.PQPrefer.IKEPolicy(), nil
	}
	if f.ikeProps != "" {
		return ike.Policy{}, fmt.Errorf("--pq %s and --ike: --pq chooses among the default proposals, --ike replaces them; give one (ke1_mlkem768 in --ike asks for the hybrid)", f.pq)
	}
	mode, err := ike.ParsePQMode(f.pq)
	if err != nil {
		return ike.Policy{}, fmt.Errorf("--pq: %w", err)
	}
	return mode.IKEPolicy(), nil
}

// parseIKEFlag reads --ike. With keN_ keywords, which only the probe may
// offer with methods other than NONE, the offer is one proposal per
// comma-separated spec with those transforms as written, and the policy
// (what the peer's choice is checked against) keeps only their NONE;
// otherwise the offer is nil and the policy's own proposals are sent.
func parseIKEFlag(props string, offersAddKE bool) (ike.Policy, []ike.Proposal, error) {
	if !offersAddKE {
		p, err := ike.ParseProposals(ike.ProtocolIKE, props)
		return p, nil, err
	}
	p, offer, err := ike.ParseOffer(ike.ProtocolIKE, props)
	if err != nil {
		return p, nil, err
	}
	for _, prop := range offer {
		for _, t := range prop.Transforms {
			if t.Type > ike.TransformESN {
				return p, offer, nil
			}
		}
	}
	return p, nil, nil
}

// routeSource returns the local address the kernel would use toward
// remote. Connecting a UDP socket sends nothing.
func routeSource(remote netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %v: %w", remote.Addr(), err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
