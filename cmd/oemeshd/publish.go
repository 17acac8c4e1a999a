package main

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/oemesh/oemesh/dnskey/publish"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/control"
)

// newPublisher builds dns.publish's Publisher; resolvers find the zones
// and their primaries.
func newPublisher(cfg *config.Config, resolvers []string, d *daemon) (*publish.Publisher, error) {
	p := cfg.DNS.Publish
	key, err := publish.LoadTSIGKey(p.TSIGKey)
	if err != nil {
		return nil, fmt.Errorf("dns.publish.tsig_key: %w", err)
	}
	spec := publish.Spec{Forward: p.Name, Addresses: p.Addresses, AtReverse: p.Reverse, AtForward: p.Forward,
		AddressRecords: p.Address, TTL: uint32(p.TTL / time.Second), Precedence: 10}
	spec.FillFromIdentity(cfg.Identity)
	return publish.New(publish.Config{Spec: spec, Key: key, Primary: p.Primary, Zone: p.Zone,
		Resolvers: resolvers, Timeout: cfg.DNS.Timeout + 3*time.Second, Log: d.log})
}

// startPublish starts keeping our records published (dns.publish): a
// refused or unreachable server is logged and retried, never fatal. It
// returns the function that stops it at shutdown, withdrawing the records
// if dns.publish.withdraw_on_stop.
func (d *daemon) startPublish(ctx context.Context, hostKey crypto.PublicKey) (stop func(), err error) {
	if !d.cfg.DNS.Publish.Enabled() {
		return func() {}, nil
	}
	if hostKey == nil {
		return nil, fmt.Errorf("dns.publish: no host key to publish (%s); create one with `oemesh newhostkey`", d.cfg.HostKey)
	}
	p, err := newPublisher(d.cfg, d.resolver.Servers(), d)
	if err != nil {
		return nil, err
	}
	d.publisher = &publish.Runner{Publisher: p, Clock: d.clock}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.publisher.Run(runCtx, hostKey)
	}()
	return func() {
		cancel()
		<-done
		if !d.cfg.DNS.Publish.WithdrawOnStop {
			return
		}
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer wcancel()
		if err := d.publisher.Withdraw(wctx, hostKey); err != nil {
			d.log.Error("dns.publish: withdrawing our records at stop", "err", err)
			return
		}
		d.log.Info("dns.publish: records withdrawn at stop", "records", p.String())
	}, nil
}

// publishView is dns.publish's state for `oemesh status`; nil when off.
func (d *daemon) publishView() *control.PublishStatus {
	if d.publisher == nil {
		return nil
	}
	s := d.publisher.Status()
	v := &control.PublishStatus{State: s.State.String(), Records: s.Records, Attempts: s.Attempts,
		LastError: s.LastError, Since: s.Since}
	if !s.NextRetry.IsZero() {
		t := s.NextRetry
		v.NextRetry = &t
	}
	return v
}
