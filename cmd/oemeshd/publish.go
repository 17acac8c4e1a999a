package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/dnskey/publish"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/control"
)

// newPublisher builds dns.publish's Publisher; resolvers find the zones
// and their primaries.
func newPublisher(cfg *config.Config, resolvers []string, log *slog.Logger) (*publish.Publisher, error) {
	p := cfg.DNS.Publish
	key, err := publish.LoadTSIGKey(p.TSIGKey)
	if err != nil {
		return nil, fmt.Errorf("dns.publish.tsig_key: %w", err)
	}
	spec := publish.Spec{Forward: p.Name, Addresses: p.Addresses, AtReverse: p.Reverse, AtForward: p.Forward,
		AddressRecords: p.Address, TTL: uint32(p.TTL / time.Second), Precedence: 10}
	spec.FillFromIdentity(cfg.Identity)
	return publish.New(publish.Config{Spec: spec, Key: key, Primary: p.Primary, Zone: p.Zone,
		Resolvers: resolvers, Timeout: cfg.DNS.Timeout + 3*time.Second, Log: log})
}

// checkPublish is --check-config's part for dns.publish: the TSIG key
// file must be readable, private and well formed, and the spec complete.
func checkPublish(out io.Writer, cfg *config.Config) error {
	if !cfg.DNS.Publish.Enabled() {
		return nil
	}
	// No look-up is made here: the resolver only has to be there.
	p, err := newPublisher(cfg, []string{"127.0.0.1:53"}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dns.publish: %s: ok\n", p)
	return nil
}

// startPublish starts the publication loop (dns.publish): it publishes the
// host key, retrying a refused or unreachable server (never fatal), then
// rolls the key over on each change SIGHUP finds. It returns the function
// that stops it at shutdown, withdrawing the records if
// dns.publish.withdraw_on_stop.
func (d *daemon) startPublish(ctx context.Context) (stop func(), err error) {
	if !d.cfg.DNS.Publish.Enabled() {
		return func() {}, nil
	}
	if d.signer == nil {
		return nil, fmt.Errorf("dns.publish: no host key to publish (%s); create one with `oemesh newhostkey`", d.cfg.HostKey)
	}
	p, err := newPublisher(d.cfg, d.resolver.Servers(), d.log)
	if err != nil {
		return nil, err
	}
	d.publisher = &publish.Runner{Publisher: p, Clock: d.clock}
	d.keyChanges = make(chan crypto.Signer, 1)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.publishLoop(runCtx)
	}()
	return func() {
		cancel()
		<-done
		if !d.cfg.DNS.Publish.WithdrawOnStop {
			return
		}
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer wcancel()
		if err := d.publisher.Withdraw(wctx, d.signer.Public()); err != nil {
			d.log.Error("dns.publish: withdrawing our records at stop", "err", err)
			return
		}
		d.log.Info("dns.publish: records withdrawn at stop", "records", p.String())
	}, nil
}

// publishLoop publishes the key in use, then waits for key changes and
// rolls each over (docs/dns.md): the new key beside the old, one TTL,
// the engine switched to the new key, the new key alone. A change that
// comes while a publication is still being retried waits for it.
func (d *daemon) publishLoop(ctx context.Context) {
	if d.publisher.Run(ctx, d.signer.Public()) != nil {
		return
	}
	for {
		var next crypto.Signer
		select {
		case <-ctx.Done():
			return
		case next = <-d.keyChanges:
		}
		old := d.signer.current()
		if dnskey.Fingerprint(old.Public()) == dnskey.Fingerprint(next.Public()) {
			continue // a second SIGHUP for the key we just rolled over to
		}
		d.log.Info("host key changed: rolling over", "old", dnskey.Fingerprint(old.Public()),
			"new", dnskey.Fingerprint(next.Public()), "overlap", d.cfg.DNS.Publish.TTL)
		r := publish.Rollover{Set: d.publisher.Run, Old: old.Public(), New: next.Public(), TTL: d.cfg.DNS.Publish.TTL,
			Wait: d.sleep,
			Switch: func(context.Context) error {
				d.signer.swap(next)
				d.log.Info("host key switched: signing with the new key", "key", dnskey.Fingerprint(next.Public()))
				return nil
			}}
		if err := r.Run(ctx); err != nil {
			d.log.Error("host key rollover stopped", "err", err)
			return
		}
		d.log.Info("host key rollover done", "key", dnskey.Fingerprint(next.Public()))
	}
}

// reloadHostKey reads the host key file again (SIGHUP). A new key is
// rolled over by the publication loop; without dns.publish it is used at
// once, and peers holding the old key fail to authenticate us until their
// DNS caches expire.
func (d *daemon) reloadHostKey() {
	k, err := d.loadHostKey(d.cfg.HostKey)
	if err != nil {
		d.log.Error("SIGHUP: host key not reloaded; keeping the key in use", "err", err)
		return
	}
	if d.signer == nil {
		d.log.Warn("SIGHUP: a host key appeared; restart oemeshd to authenticate with it", "path", d.cfg.HostKey)
		return
	}
	if dnskey.Fingerprint(k.Public()) == dnskey.Fingerprint(d.signer.Public()) {
		return
	}
	if d.keyChanges == nil {
		d.signer.swap(k)
		d.log.Warn("host key changed and switched at once (dns.publish is off): peers that cached the old key fail to authenticate us until their caches expire",
			"key", dnskey.Fingerprint(k.Public()))
		return
	}
	select {
	case d.keyChanges <- k:
	default:
		d.log.Warn("SIGHUP: a host key rollover is pending already; this key change waits for the next SIGHUP")
	}
}

// sleep waits d on the daemon's clock, or until ctx ends.
func (d *daemon) sleep(ctx context.Context, dur time.Duration) error {
	wake := make(chan struct{})
	t := d.clock.AfterFunc(dur, func() { close(wake) })
	defer t.Stop()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keyFingerprint is the fingerprint of the host key in use, for status.
func (d *daemon) keyFingerprint() string {
	if d.signer == nil {
		return ""
	}
	return dnskey.Fingerprint(d.signer.Public())
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
