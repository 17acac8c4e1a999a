package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
)

// Certificate OE, server side (docs/certificate-oe.md): oe.cert and
// oe.cert_key are the certificate the engine answers NULL-authenticated
// OE initiators with (those that ask with a CERTREQ, or every one with
// oe.cert_answer always), and oe.address_pool the addresses it leases to
// the ones that ask (modecfg). The engine makes the choice per IKE SA
// (ike/responder.go, responderAuthKind); here they are only loaded.

// loadOECert reads oe.cert and oe.cert_key into the engine's certificate;
// nil when oe.cert is not set. The key must be private to its owner, as
// the host key is. The ID is the certificate's subject DN, as Libreswan's
// leftid=%fromcert sends it, and the chain goes with every answer: an OE
// client has no copy of it. SIGHUP reads both files again
// (engineCert.reload).
func loadOECert(cfg config.OE, now time.Time, log *slog.Logger) (*engineCert, error) {
	if cfg.Cert == "" {
		return nil, nil
	}
	load := func() (*certs.KeyPair, error) { return loadOEKeyPair(cfg) }
	kp, err := load()
	if err != nil {
		return nil, err
	}
	leaf := kp.Leaf()
	switch {
	case now.After(leaf.NotAfter):
		log.Warn("oe.cert has expired: certificate OE clients will refuse it; renew it and send oemeshd a SIGHUP",
			"subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	case now.Before(leaf.NotBefore):
		log.Warn("oe.cert is not valid yet: certificate OE clients will refuse it until then",
			"subject", leaf.Subject.String(), "not_before", leaf.NotBefore)
	default:
		log.Info("certificate OE: answering NULL initiators with oe.cert", "cert_answer", cfg.CertAnswer,
			"subject", leaf.Subject.String(), "issuer", leaf.Issuer.String(), "dns_names", leaf.DNSNames,
			"not_after", leaf.NotAfter, "intermediates", len(kp.Chain)-1)
	}
	return newEngineCert(cfg.Cert, cfg.CertKey, ike.Identity{}, kp, load), nil
}

// certOEConfig puts oe.cert (ec, nil when not set) and oe.cert_answer
// into the engine's configuration: the default certificate, the only one
// a NULL OE initiator can get, and whether every such initiator gets it.
func certOEConfig(cfg config.OE, ec *engineCert, ecfg ike.EngineConfig) ike.EngineConfig {
	ecfg.Credentials.Cert = ec.credential()
	ecfg.CertOEAlways = ec != nil && cfg.CertAnswer == "always"
	return ecfg
}

// loadOEKeyPair reads oe.cert and oe.cert_key; its errors name the key.
func loadOEKeyPair(cfg config.OE) (*certs.KeyPair, error) {
	if err := checkKeyFileMode(cfg.CertKey); err != nil {
		return nil, fmt.Errorf("oe.cert_key: %w", err)
	}
	kp, err := certs.LoadKeyPair(cfg.Cert, cfg.CertKey)
	if err != nil {
		return nil, fmt.Errorf("oe.cert: %w", err)
	}
	return kp, nil
}

// newAddressPool builds the pool of oe.address_pool; nil when it is empty.
func newAddressPool(cfg config.OE, clk clock.Clock) (*addrpool.Pool, error) {
	if len(cfg.AddressPool) == 0 {
		return nil, nil
	}
	p, err := addrpool.Parse(cfg.AddressPool, clk)
	if err != nil {
		return nil, fmt.Errorf("oe.address_pool: %w", err)
	}
	return p, nil
}

// checkCertOE is `oemeshd check`'s part for certificate OE: it loads
// oe.cert and builds oe.address_pool as the daemon would, and says what
// they hold.
func checkCertOE(out io.Writer, cfg config.OE, now time.Time) error {
	ec, err := loadOECert(cfg, now, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if cred := ec.credential(); cred != nil {
		leaf, err := x509.ParseCertificate(cred.Chain[0])
		if err != nil {
			return fmt.Errorf("oe.cert: %w", err)
		}
		fmt.Fprintf(out, "oe.cert: %s: ok, %q issued by %q, %d intermediates, valid until %s\n",
			cfg.Cert, leaf.Subject, leaf.Issuer, len(cred.Chain)-1, leaf.NotAfter.UTC().Format(time.DateOnly))
		if cfg.CertAnswer == "always" {
			fmt.Fprintln(out, "oe.cert_answer: always: every NULL OE initiator gets oe.cert, also DNS OE clients that would verify the host key from DNS")
		}
	}
	pool, err := newAddressPool(cfg, clock.System{})
	if err != nil {
		return err
	}
	if pool != nil {
		st := pool.Stats()
		fmt.Fprintf(out, "oe.address_pool: ok, %d IPv4 and %d IPv6 addresses\n", st.SizeIPv4, st.SizeIPv6)
	}
	return nil
}
