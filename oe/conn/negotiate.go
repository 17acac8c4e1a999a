package conn

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// keepUp starts (or joins) the loop that brings the conn up and keeps
// it up; the channel gets the outcome of the first round of attempts.
func (c *Conns) keepUp(cs *connState) <-chan error {
	c.mu.Lock()
	cs.keepUp = true
	c.mu.Unlock()
	return c.try(cs, true)
}

// try runs up to KeyingTries attempts (0: until it works or the conn is
// taken down) in the background, unless a round is already running.
func (c *Conns) try(cs *connState, wait bool) <-chan error {
	done := make(chan error, 1)
	c.mu.Lock()
	if cs.negotiating || cs.stopped {
		c.mu.Unlock()
		done <- fmt.Errorf("oe: conn %s is already negotiating", cs.Name)
		return done
	}
	if len(cs.tunnels) > 0 {
		c.mu.Unlock()
		done <- nil
		return done
	}
	if !c.goBackground() {
		c.mu.Unlock()
		done <- fmt.Errorf("oe: conn %s: stopping", cs.Name)
		return done
	}
	ctx, cancel := context.WithCancel(c.base)
	cs.negotiating, cs.stop, cs.tries = true, cancel, 0
	c.setState(cs, StateNegotiating, "initiate")
	c.mu.Unlock()
	go func() {
		defer c.bg.Done()
		defer cancel()
		err := c.attempts(ctx, cs)
		c.mu.Lock()
		cs.negotiating = false
		if err != nil {
			cs.lastErr = err.Error()
			if ctx.Err() == nil {
				c.setState(cs, StateGaveUp, err.Error())
			}
		} else {
			cs.lastErr = ""
		}
		c.mu.Unlock()
		done <- err
	}()
	return done
}

// attempts initiates until one attempt works, KeyingTries run out, or
// ctx ends; the pause between attempts doubles up to a minute.
func (c *Conns) attempts(ctx context.Context, cs *connState) error {
	pause := cs.RetryBase
	var last error
	for try := 1; cs.KeyingTries == 0 || try <= cs.KeyingTries; try++ {
		c.mu.Lock()
		cs.tries = try
		c.mu.Unlock()
		actx, cancel := context.WithTimeout(ctx, c.cfg.NegotiationTimeout)
		err := c.initiate(actx, cs)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		c.stats.fail(c.cfg.Classify(err))
		c.log.Info("conn negotiation failed", "conn", cs.Name, "try", try, "keying_tries", cs.KeyingTries, "err", err)
		c.mu.Lock()
		cs.lastErr = err.Error()
		c.mu.Unlock()
		if ctx.Err() != nil {
			return fmt.Errorf("conn %s: stopped after %d tries: %w", cs.Name, try, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("conn %s: stopped after %d tries: %w", cs.Name, try, last)
		case <-c.closed:
			return fmt.Errorf("conn %s: daemon stopping: %w", cs.Name, last)
		case <-time.After(pause):
		}
		pause = min(pause*2, time.Minute)
	}
	c.log.Warn("conn: gave up", "conn", cs.Name, "keying_tries", cs.KeyingTries, "err", last)
	return fmt.Errorf("gave up after %d tries (keying_tries): %w", cs.KeyingTries, last)
}

// initiate runs one IKE negotiation with the conn's parameters.
func (c *Conns) initiate(ctx context.Context, cs *connState) error {
	cn := cs.Conn
	opts := ike.InitiateOptions{
		Remote:         netip.AddrPortFrom(cn.Remote, c.cfg.IKEPort),
		Local:          cn.Local,
		Auth:           cn.Auth,
		PeerAuth:       cn.Auth,
		TSi:            tunnel.Selectors(cn.localNets()),
		TSr:            tunnel.Selectors(cn.remoteNets()),
		Mode:           cn.Mode,
		IKE:            cn.IKE,
		ESP:            cn.ESP,
		InitialContact: true,
	}
	if cn.Auth == ike.AuthKindCert && c.cfg.Cert != nil {
		opts.Cert = c.cfg.Cert(cn.Name)
	}
	if cn.Auth == ike.AuthKindPubkey || cn.Auth == ike.AuthKindPSK {
		opts.LocalID = cn.LocalID
	}
	if cn.Auth != ike.AuthKindNull {
		opts.PeerID = cn.RemoteID
		if opts.PeerID.Type == 0 {
			opts.PeerID = ike.AddrIdentity(cn.Remote)
		}
	}
	_, err := c.engine.Initiate(ctx, opts)
	return err
}
