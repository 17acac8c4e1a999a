package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
)

// startOE builds DNS and the orchestrator on top of the data plane and the
// IKE sockets, and starts them.
func (d *daemon) startOE(ctx context.Context, cfg *config.Config, dp kernel.Dataplane) error {
	nullAuth, err := oe.ParseNullAuth(cfg.OE.NullAuth)
	if err != nil {
		return err
	}
	// ike.pq shapes the default proposals of every IKE SA: OE's, and every
	// responder's, since IKE_SA_INIT is answered before the peer is known.
	// A conn's own ike: replaces them for the SAs it initiates.
	pq, err := ike.ParsePQMode(cfg.IKE.PQ)
	if err != nil {
		return fmt.Errorf("ike.pq: %w", err)
	}
	ikePolicy := pq.IKEPolicy()
	oeCert, err := loadOECert(cfg.OE, d.clock.Now(), d.log)
	if err != nil {
		return err
	}
	if err := oeCert.signWith(d.rsa); err != nil {
		return fmt.Errorf("oe.cert_key: %w", err)
	}
	d.oeCert = oeCert
	pool, err := newAddressPool(cfg.OE, d.clock)
	if err != nil {
		return err
	}
	trust, err := loadCertTrust(cfg.OE, d.clock, d.log)
	if err != nil {
		return err
	}
	var signer crypto.Signer
	if k, err := d.loadHostKey(cfg.HostKey); err == nil {
		d.signer = newHostSigner(k)
		signer = d.signer
	} else if nullAuth != oe.NullOnly {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("host key %s does not exist: create it with `oemesh newhostkey --out %s` and publish `oemesh showhostkey --ipseckey`, or set oe.null_auth: only", cfg.HostKey, cfg.HostKey)
		}
		return err
	}

	var ident ike.Identity
	switch {
	case strings.HasPrefix(cfg.Identity, "@"):
		ident = ike.FQDNIdentity(strings.TrimPrefix(cfg.Identity, "@"))
		d.identity = cfg.Identity
	case cfg.Identity != "":
		a := netip.MustParseAddr(cfg.Identity)
		ident = ike.AddrIdentity(a)
		d.identity = a.String()
	default:
		// Address IDs follow each SA's local address; the default-route
		// address is shown as the host's identity.
		if a, why, err := defaultRouteAddr(); err == nil {
			d.identity = a.String() + " (" + why + ")"
		} else {
			d.identity = "(each SA's local address: " + err.Error() + ")"
		}
	}

	resolver, err := newResolver(cfg, d.log)
	if err != nil {
		return err
	}
	d.resolver = resolver
	if d.bindings, err = d.newBindings(); err != nil {
		return fmt.Errorf("dns.bindings: %w", err)
	}

	shunt := kernel.ShuntHold
	if cfg.OE.NegotiationShunt == "pass" {
		shunt = kernel.ShuntPass
	}
	// kernel.udp_encap auto: ESP-in-UDP on the userspace data plane,
	// whose fast path (UDP GSO/GRO) raw ESP cannot take. It applies to
	// OE and conns alike: the responder decides at IKE_SA_INIT, before it
	// knows which conn the peer wants.
	forceUDPEncap := cfg.Kernel.ForceUDPEncap(d.dpName == kernel.BackendUserspace)
	d.log.Info("UDP encapsulation", "kernel.udp_encap", cfg.Kernel.UDPEncap, "dataplane", d.dpName, "force", forceUDPEncap)
	d.udpEncap = udpEncap{configured: cfg.Kernel.UDPEncap, force: forceUDPEncap, dataplane: d.dpName}
	// OE and the conns behind one dispatcher, which is the engine's key
	// resolver, responder policy and installer (oe/dispatch); the conns
	// take OE's IKE port, negotiation timeout and logger.
	engineCfg := d.certConfig(certOEConfig(cfg.OE, oeCert, ike.EngineConfig{
		Credentials:             ike.Credentials{ID: ident, Signer: signer, PSK: d.conns.psk},
		CertNameMatch:           certHoldsID,
		AddressPool:             pool,
		Liveness:                liveness(d.startConns),
		Sender:                  d.mux,
		IKE:                     ikePolicy,
		IKEPort:                 cfg.IKEPort,
		NATTPort:                cfg.NATTPort,
		ForceUDPEncap:           forceUDPEncap,
		IKELifetime:             cfg.OE.IKELifetime,
		ChildLifetime:           cfg.OE.ChildLifetime,
		InitLimits:              initLimits(cfg.IKE.Limits),
		NullLimits:              nullLimits(cfg.IKE.Limits),
		RekeyFuzz:               rekeyFuzz(cfg.OE.RekeyFuzz),
		HalfOpenCookieThreshold: int(cfg.IKE.Limits.CookieThreshold),
		Logger:                  d.log,
	}))
	oeCfg := oe.Config{
		NullAuth:           nullAuth,
		NegotiationShunt:   shunt,
		ShuntLifetime:      cfg.OE.ShuntLifetime,
		IdleTimeout:        cfg.OE.IdleTimeout,
		NegotiationTimeout: cfg.OE.NegotiationTimeout,
		ResponderProbe:     cfg.OE.ResponderProbe,
		GatewayFor:         cfg.OE.GatewayFor,
		IKEPort:            cfg.IKEPort,
		Bindings:           d.bindings,
		Logger:             d.log,
	}
	if trust != nil {
		oeCfg.CertTrust = trust // a nil *certTrust in the interface would not be nil
	}
	// A conn with auth cert initiates with its own certificate.
	connsCfg := conn.Config{Cert: d.conns.certs.credentialFor}
	// The metrics' meters and the key table for oemesh debug keys sit
	// between OE and its data plane and key source: every SA install and
	// delete, and every look-up, passes them.
	d.meters.latency = newLatency(d.clock)
	d.meters.traffic = newMeteredDataplane(dp, d.clock, d.meters.latency.installed)
	lister, _ := dp.(espKeyLister) // the userspace data plane lists its own keys
	d.saKeys = newKeyedDataplane(d.meters.traffic, lister)
	oeCfg.OnOutcome = d.meters.latency.outcome
	stack, err := dispatch.New(dispatch.Config{OE: oeCfg, Conns: connsCfg}, d.saKeys, d.meters.latency.keys(resolver), engineCfg)
	if err != nil {
		return err
	}
	d.stack, d.oe = stack, stack.OE()
	return nil
}

// newResolver builds the daemon's key resolver. It asks every entry of
// dns.servers, in order, addresses and resolv.conf files alike: the same
// list dnsExemptions takes out of OE and `oemesh dns publish` resolves
// with (dnskey.ServerList reads it for all three).
func newResolver(cfg *config.Config, log *slog.Logger) (*dnskey.Resolver, error) {
	r, err := dnskey.New(dnskey.Config{
		Servers:        cfg.DNS.Servers,
		Timeout:        cfg.DNS.Timeout,
		AcceptInsecure: !cfg.DNS.RequireDNSSEC,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return r, nil
}

// rekeyFuzz is oe.rekey_fuzz for the engine, whose zero means its
// default: 0% is no fuzz (negative).
func rekeyFuzz(f float64) float64 {
	if f == 0 {
		return -1
	}
	return f
}
