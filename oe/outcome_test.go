package oe

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/policygroups"
)

// TestOnOutcome: Config.OnOutcome hears how each negotiation ended, once,
// with the failure's result and cause and the time it took.
func TestOnOutcome(t *testing.T) {
	outcomes := make(chan Outcome, 4)
	o, _ := newTestOE(t, Config{NullAuth: NullOff, OnOutcome: func(out Outcome) { outcomes <- out }},
		oetest.NewDNS(), nil, oetest.NewKey(t)) // no key for anyone
	ctx := context.Background()
	if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private-or-clear": "198.18.0.0/24\n"})); err != nil {
		t.Fatal(err)
	}
	if err := o.Up(ctx, addrA, addrD); err == nil {
		t.Fatal("Up without a key in DNS succeeded")
	}
	select {
	case out := <-outcomes:
		if out.Target != addrD || out.Result != ResultClear || out.Group != policygroups.PrivateOrClear ||
			!errors.Is(out.Err, dnskey.ErrNoKey) || out.Duration < 0 || out.IKE < 0 {
			t.Errorf("outcome %+v, want %s clear for want of a key", out, addrD)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnOutcome not called")
	}
	select {
	case out := <-outcomes:
		t.Errorf("a second outcome for one negotiation: %+v", out)
	case <-time.After(100 * time.Millisecond):
	}
}
