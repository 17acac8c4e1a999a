package flooder

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Config says what to flood and how hard.
type Config struct {
	// Target is the responder's IKE address and port (IPv4).
	Target netip.AddrPort
	// Sources is the prefix the requests come from, each from a random
	// address of it (IPv4, at most a /31's worth of host bits used).
	Sources netip.Prefix
	// SourcePort is the requests' UDP source port; 0 means 500.
	SourcePort uint16
	// Rate is the requests per second to aim at; 0 means as fast as the
	// socket takes them.
	Rate int
	// Workers is how many goroutines send; 0 means 2.
	Workers int
	// Seed makes the requests reproducible; 0 means a random seed.
	Seed uint64
}

// Result is what a flood achieved.
type Result struct {
	Sent    uint64        // requests the socket took
	Errors  uint64        // sends the socket refused (ENOBUFS and the like)
	Elapsed time.Duration // from the first request to the last
}

// Rate is the requests per second achieved.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%d IKE_SA_INIT in %v (%.0f/s), %d send errors", r.Sent, r.Elapsed.Round(time.Millisecond), r.Rate(), r.Errors)
}

// Flooder owns the raw socket a flood is sent on.
type Flooder struct {
	cfg Config
	fd  int
	// sent counts requests sent so far, for callers that watch the flood
	// as it runs.
	sent atomic.Uint64
}

// Open checks cfg and opens the raw socket in the caller's network
// namespace (lab.Node.Do: the socket stays in it).
func Open(cfg Config) (*Flooder, error) {
	if !cfg.Target.Addr().Is4() || !cfg.Sources.Addr().Is4() {
		return nil, fmt.Errorf("flooder: target %v and sources %v must be IPv4", cfg.Target, cfg.Sources)
	}
	if cfg.Sources.Bits() > 30 {
		return nil, fmt.Errorf("flooder: sources %v: want a prefix of /30 or shorter", cfg.Sources)
	}
	if cfg.SourcePort == 0 {
		cfg.SourcePort = 500
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("flooder: raw socket (needs CAP_NET_RAW): %w", err)
	}
	// A deep send buffer: the flood is limited by the CPU, not by
	// ENOBUFS.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	return &Flooder{cfg: cfg, fd: fd}, nil
}

// Close closes the socket.
func (f *Flooder) Close() error { return unix.Close(f.fd) }

// Sent is how many requests the flood has sent so far.
func (f *Flooder) Sent() uint64 { return f.sent.Load() }

// Run floods until ctx ends and reports what it sent.
func (f *Flooder) Run(ctx context.Context) Result {
	var (
		wg     sync.WaitGroup
		errs   atomic.Uint64
		perSec = 0
	)
	if f.cfg.Rate > 0 {
		perSec = max(1, f.cfg.Rate/f.cfg.Workers)
	}
	began := time.Now()
	for w := range f.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(f.cfg.Seed, uint64(w)))
			f.worker(ctx, r, perSec, &errs)
		}()
	}
	wg.Wait()
	return Result{Sent: f.sent.Load(), Errors: errs.Load(), Elapsed: time.Since(began)}
}

// pacing is how often a rate-limited worker catches up with its rate.
const pacing = time.Millisecond

func (f *Flooder) worker(ctx context.Context, r *rand.Rand, perSec int, errs *atomic.Uint64) {
	t := newTemplate(r, f.cfg.Target, f.cfg.SourcePort)
	dst := &unix.SockaddrInet4{Addr: f.cfg.Target.Addr().As4()}
	base := f.cfg.Sources.Masked().Addr().As4()
	hostBits := 32 - f.cfg.Sources.Bits()
	hostMask := uint32(1)<<hostBits - 1
	began := time.Now()
	var sent int
	for ctx.Err() == nil {
		burst := 64
		if perSec > 0 {
			due := int(time.Since(began).Seconds() * float64(perSec))
			if burst = min(burst, due-sent); burst <= 0 {
				time.Sleep(pacing)
				continue
			}
		}
		for range burst {
			// Neither the network's address nor its broadcast address.
			host := r.Uint32() & hostMask
			if host == 0 || host == hostMask {
				host = 1
			}
			v := binary.BigEndian.Uint32(base[:]) | host
			var src [4]byte
			binary.BigEndian.PutUint32(src[:], v)
			t.stamp(r, netip.AddrFrom4(src))
			if err := unix.Sendto(f.fd, t.pkt, 0, dst); err != nil {
				if errors.Is(err, unix.EBADF) {
					return
				}
				errs.Add(1)
				continue
			}
			sent++
			f.sent.Add(1)
		}
	}
}
