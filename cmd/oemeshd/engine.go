package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"syscall"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/xfrm"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/dispatch"
)

// startOE builds DNS, the IKE transport and the orchestrator on top of the
// data plane, and starts them.
func (d *daemon) startOE(ctx context.Context, cfg *config.Config, dp kernel.Dataplane) error {
	nullAuth, err := oe.ParseNullAuth(cfg.OE.NullAuth)
	if err != nil {
		return err
	}
	var signer crypto.Signer
	if k, err := dnskey.LoadHostKey(cfg.HostKey); err == nil {
		signer = k
		d.keyFingerprint = dnskey.Fingerprint(k.Public())
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

	resolver, err := dnskey.New(dnskey.Config{
		Servers:        dnsServers(cfg.DNS.Servers),
		ResolvConf:     resolvConf(cfg.DNS.Servers),
		Timeout:        cfg.DNS.Timeout,
		AcceptInsecure: !cfg.DNS.RequireDNSSEC,
		Logger:         d.log,
	})
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	d.resolver = resolver

	var listen []netip.Addr
	listen = append(listen, cfg.Listen...)
	ucfg := ike.UDPConfig{
		Addrs:    listen,
		Port:     int(cfg.IKEPort),
		NATTPort: int(cfg.NATTPort),
		Mark:     d.fwmark,
		Control:  d.socketControl(cfg),
		Logger:   d.log,
	}
	if d.encap != nil {
		ucfg.ESP = d.encap.receive
	}
	transport, err := ike.ListenUDP(ctx, ucfg)
	if err != nil {
		return fmt.Errorf("IKE sockets: %w", err)
	}
	d.transport = transport
	if d.encap != nil {
		d.encap.transport.Store(transport)
	}

	shunt := kernel.ShuntHold
	if cfg.OE.NegotiationShunt == "pass" {
		shunt = kernel.ShuntPass
	}
	// OE and the conns behind one dispatcher, which is the engine's key
	// resolver, responder policy and installer (oe/dispatch); the conns
	// take OE's IKE port, negotiation timeout and logger.
	stack, err := dispatch.New(dispatch.Config{OE: oe.Config{
		NullAuth:           nullAuth,
		NegotiationShunt:   shunt,
		ShuntLifetime:      cfg.OE.ShuntLifetime,
		IdleTimeout:        cfg.OE.IdleTimeout,
		NegotiationTimeout: cfg.OE.NegotiationTimeout,
		ResponderProbe:     cfg.OE.ResponderProbe,
		GatewayFor:         cfg.OE.GatewayFor,
		IKEPort:            cfg.IKEPort,
		Logger:             d.log,
	}}, dp, resolver, ike.EngineConfig{
		Credentials:   ike.Credentials{ID: ident, Signer: signer, PSK: d.conns.psk},
		Liveness:      liveness(d.startConns),
		Sender:        transport,
		IKEPort:       cfg.IKEPort,
		NATTPort:      cfg.NATTPort,
		IKELifetime:   cfg.OE.IKELifetime,
		ChildLifetime: cfg.OE.ChildLifetime,
		Logger:        d.log,
	})
	if err != nil {
		transport.Close()
		return err
	}
	d.stack, d.oe = stack, stack.OE()
	return nil
}

// socketControl exempts the IKE sockets from our own XFRM policies and
// marks the NAT-T socket for ESP-in-UDP decapsulation by the kernel.
func (d *daemon) socketControl(cfg *config.Config) func(network, address string, c syscall.RawConn) error {
	if d.dpName != kernel.BackendXFRM {
		return nil
	}
	nattSuffix := fmt.Sprintf(":%d", cfg.NATTPort)
	return func(network, address string, c syscall.RawConn) error {
		fam := syscall.AF_INET
		if strings.HasSuffix(network, "6") {
			fam = syscall.AF_INET6
		}
		var err error
		cerr := c.Control(func(fd uintptr) {
			if err = xfrm.BypassSocket(int(fd), fam); err != nil {
				return
			}
			if strings.HasSuffix(address, nattSuffix) {
				err = xfrm.EncapSocket(int(fd))
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}
}

// dnsServers are the configured server addresses (not resolv.conf paths).
func dnsServers(l []string) []string {
	var out []string
	for _, s := range l {
		if !strings.HasPrefix(s, "/") {
			out = append(out, s)
		}
	}
	return out
}

// resolvConf is the first resolv.conf path configured, if any.
func resolvConf(l []string) string {
	for _, s := range l {
		if strings.HasPrefix(s, "/") {
			return s
		}
	}
	return ""
}
