package config

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// OE is the oe.* section.
type OE struct {
	NullAuth         string // fallback, off or only
	NegotiationShunt string // hold or pass
	ShuntLifetime    time.Duration
	IdleTimeout      time.Duration
	// NegotiationTimeout bounds one OE attempt.
	NegotiationTimeout time.Duration
	// ResponderProbe: a CHILD SA we installed as responder that has
	// received nothing after this long makes us check that its peer is
	// alive (0: never).
	ResponderProbe time.Duration
	GatewayFor     []netip.Prefix
	IKELifetime    time.Duration
	ChildLifetime  time.Duration
	// RekeyFuzz is oe.rekey_fuzz as a fraction (0 to 1).
	RekeyFuzz float64
	// Cert and CertKey are the certificate (PEM chain) and its private
	// key that certificate OE answers NULL initiators with; both empty:
	// none.
	Cert, CertKey string
	// CertAnswer says which NULL initiators get Cert rather than the host
	// key's signature: ifasked (those that send a CERTREQ) or always.
	CertAnswer string
	// AddressPool is what is leased to initiators that ask (modecfg),
	// in ike/addrpool's syntax; empty: nothing.
	AddressPool []string
	// TrustCertificates is what certificate OE clients trust: off,
	// webpki (the system roots) or ca-file (TrustCA).
	TrustCertificates string
	// TrustCA is the CA bundle (a file or a directory) of
	// TrustCertificates ca-file.
	TrustCA string
}

// check relates the oe.* keys that depend on each other.
func (o OE) check() error {
	switch {
	case o.Cert != "" && o.CertKey == "":
		return fmt.Errorf("oe.cert %s is set without oe.cert_key: set the certificate's private key too", o.Cert)
	case o.Cert == "" && o.CertKey != "":
		return fmt.Errorf("oe.cert_key %s is set without oe.cert: set the certificate too, or clear oe.cert_key", o.CertKey)
	case o.CertAnswer == "always" && o.Cert == "":
		return errors.New("oe.cert_answer always answers with oe.cert, which is not set: set oe.cert and oe.cert_key, or oe.cert_answer to ifasked")
	case o.Cert != "" && o.NullAuth == "off":
		return errors.New("oe.cert answers NULL-authenticated initiators, which oe.null_auth off refuses: set oe.null_auth to fallback or only, or clear oe.cert")
	case o.TrustCertificates == "ca-file" && o.TrustCA == "":
		return errors.New("oe.trust_certificates ca-file needs oe.trust_ca: set it to the CA bundle (a PEM file or a directory of them)")
	case o.TrustCertificates != "ca-file" && o.TrustCA != "":
		return fmt.Errorf("oe.trust_ca %s is set but oe.trust_certificates is %s, which does not read it: set oe.trust_certificates to ca-file, or clear oe.trust_ca", o.TrustCA, o.TrustCertificates)
	case o.TrustCertificates != "off" && o.NullAuth == "off":
		return fmt.Errorf("oe.trust_certificates %s: a certificate OE client authenticates itself with NULL, which oe.null_auth off forbids: set oe.null_auth to fallback, or oe.trust_certificates to off", o.TrustCertificates)
	case o.TrustCertificates != "off" && o.NullAuth == "only":
		return fmt.Errorf("oe.trust_certificates %s: with oe.null_auth only, OE asks DNS for nothing and never learns that a destination has no key, so it never asks for a certificate: set oe.null_auth to fallback, or oe.trust_certificates to off", o.TrustCertificates)
	}
	return nil
}
