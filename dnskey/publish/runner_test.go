package publish

import (
	"context"
	"crypto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

// fakeServer answers UPDATEs with the rcodes in order (then NOERROR) and
// counts them.
type fakeServer struct {
	mu      sync.Mutex
	rcodes  []int
	updates int
}

func (f *fakeServer) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := new(dns.Msg)
	r.SetReply(m)
	if m.Opcode == dns.OpcodeUpdate {
		if t := m.IsTsig(); t == nil || t.Hdr.Name != "k." {
			r.Rcode = dns.RcodeFormatError
			return r, nil
		}
		f.updates++
		if len(f.rcodes) > 0 {
			r.Rcode, f.rcodes = f.rcodes[0], f.rcodes[1:]
		}
	}
	return r, nil
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.updates
}

func fakePublisher(t *testing.T, srv *fakeServer) *Publisher {
	t.Helper()
	p, err := New(Config{Spec: Spec{Forward: "b.example.", AtForward: true, TTL: 60},
		Key: TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: secret}, Primary: "192.0.2.53", Zone: "example."})
	if err != nil {
		t.Fatal(err)
	}
	p.ex = srv.exchange
	return p
}

func waitStatus(t *testing.T, r *Runner, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := r.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("status stuck at %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunnerRetriesWithBackoff(t *testing.T) {
	srv := &fakeServer{rcodes: []int{dns.RcodeNotAuth, dns.RcodeRefused, dns.RcodeRefused}}
	clk := clocktest.New()
	r := &Runner{Publisher: fakePublisher(t, srv), Clock: clk, MinBackoff: 5 * time.Second, MaxBackoff: 8 * time.Second}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), testKey(1)) }()

	// Backoff 5s, then 8s (10s capped), then 8s.
	start := clk.Now()
	for i, wait := range []time.Duration{5 * time.Second, 8 * time.Second, 8 * time.Second} {
		s := waitStatus(t, r, func(s Status) bool { return s.State == StateRetrying && s.Attempts == i+1 })
		if !s.NextRetry.Equal(clk.Now().Add(wait)) || !s.Since.Equal(start) {
			t.Fatalf("attempt %d: status %+v, want the next retry in %v, retrying since %v", i+1, s, wait, start)
		}
		if i == 0 && (!strings.Contains(s.LastError, "NOTAUTH") || !strings.Contains(s.LastError, "192.0.2.53:53")) {
			t.Fatalf("status error %q, want the rcode and server", s.LastError)
		}
		if n := srv.count(); n != i+1 {
			t.Fatalf("%d UPDATEs before the retry, want %d", n, i+1)
		}
		clk.Advance(wait - time.Second)
		if n := srv.count(); n != i+1 {
			t.Fatalf("retried before the backoff ended (%d UPDATEs)", n)
		}
		clk.Advance(time.Second)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := r.Status(); s.State != StatePublished || s.LastError != "" || srv.count() != 4 {
		t.Fatalf("after success: %+v, %d UPDATEs", s, srv.count())
	}
}

func TestRunnerStopsWithContext(t *testing.T) {
	srv := &fakeServer{rcodes: []int{dns.RcodeRefused}}
	clk := clocktest.New()
	r := &Runner{Publisher: fakePublisher(t, srv), Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, testKey(1)) }()
	waitStatus(t, r, func(s Status) bool { return s.State == StateRetrying })
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

// withdrawServer records the IPSECKEYs each UPDATE deletes.
type withdrawServer struct {
	mu      sync.Mutex
	deleted []string
}

func (w *withdrawServer) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rr := range m.Ns {
		if k, ok := rr.(*dns.IPSECKEY); ok && rr.Header().Class == dns.ClassNONE {
			w.deleted = append(w.deleted, k.PublicKey)
		}
	}
	r := new(dns.Msg)
	r.SetReply(m)
	return r, nil
}

// A stop during a rollover's overlap withdraws both keys, each once.
func TestRunnerWithdrawsWhatItPublished(t *testing.T) {
	w := &withdrawServer{}
	p := fakePublisher(t, &fakeServer{})
	p.ex = w.exchange
	r := &Runner{Publisher: p, Clock: clocktest.New()}
	if err := r.Run(context.Background(), testKey(1), testKey(2)); err != nil {
		t.Fatal(err)
	}
	if err := r.Withdraw(context.Background(), testKey(1)); err != nil {
		t.Fatal(err)
	}
	c, _ := Plan(p.cfg.Spec, OpAdd, []crypto.PublicKey{testKey(1), testKey(2)})
	want := []string{c.Insert[0].(*dns.IPSECKEY).PublicKey, c.Insert[1].(*dns.IPSECKEY).PublicKey}
	if !slices.Equal(w.deleted, want) {
		t.Fatalf("withdrew %v, want both keys once %v", w.deleted, want)
	}
	if r.Status().State != StateWithdrawn {
		t.Fatalf("status %+v", r.Status())
	}
}
