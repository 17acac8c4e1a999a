package reliability

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/udpmux"
)

// nullFlooder completes real NULL-authenticated IKEv2 handshakes (our own
// engine, as initiator) from many addresses of one namespace toward a
// responder, and keeps the SAs, as an attacker would: each costs it a
// round trip and the responder an IKE SA and a CHILD SA.
type nullFlooder struct {
	eng    *ike.Engine
	target netip.AddrPort
	mux    *udpmux.Mux // IKE on 500 and 4500 of each source
	served chan error
	stop   context.CancelFunc

	mu   sync.Mutex
	up   map[ike.SAID]nullFloodSA // established, not deleted
	gone map[ike.SAID]nullFloodSA // deleted by the responder
}

// nullFloodSA is one SA the flooder made.
type nullFloodSA struct {
	source netip.Addr
	at     time.Time // established
}

// newNullFlooder opens the IKE sockets, 500 and 4500 (the responder may
// move an IKE SA there: kernel.udp_encap), of each source address inside
// node's namespace, and an initiator engine over them.
func newNullFlooder(node *lab.Node, target netip.Addr, sources []netip.Addr) (*nullFlooder, error) {
	f := &nullFlooder{target: netip.AddrPortFrom(target, 500),
		up: map[ike.SAID]nullFloodSA{}, gone: map[ike.SAID]nullFloodSA{}}
	err := node.Do(func() (err error) {
		f.mux, err = udpmux.Listen(context.Background(), udpmux.Config{Addrs: sources, Port: ike.IKEPort, NATTPort: ike.NATTPort})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("flooder's sockets: %w", err)
	}
	f.eng, err = ike.NewEngine(ike.EngineConfig{
		Sender:    f.mux,
		Installer: spiOnly{},
		GiveUp:    5 * time.Second,
		OnIKEDown: func(info ike.SAInfo, _ error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if sa, ok := f.up[info.ID]; ok {
				delete(f.up, info.ID)
				f.gone[info.ID] = sa
			}
		},
	})
	if err != nil {
		f.mux.Close()
		return nil, err
	}
	var ctx context.Context
	ctx, f.stop = context.WithCancel(context.Background())
	f.served = make(chan error, 1)
	go func() { f.served <- f.mux.Serve(ctx, f.eng.HandlePacket) }()
	return f, nil
}

// authenticationFailed is the AUTHENTICATION_FAILED notify (RFC 7296
// §3.10.1), the responder's refusal over a NULL SA cap.
const authenticationFailed = 24

// handshake completes one NULL handshake from source; ok false with nil
// error: the responder refused it with AUTHENTICATION_FAILED.
func (f *nullFlooder) handshake(ctx context.Context, source netip.Addr) (ike.SAID, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := f.eng.Initiate(ctx, ike.InitiateOptions{Remote: f.target, Local: source, Auth: ike.AuthKindNull, Mode: ike.ModeTransport})
	var ne *ike.NotifyError
	switch {
	case errors.As(err, &ne) && ne.Type == authenticationFailed:
		return ike.SAID{}, false, nil
	case err != nil:
		return ike.SAID{}, false, fmt.Errorf("NULL handshake from %v: %w", source, err)
	}
	f.mu.Lock()
	f.up[info.IKE] = nullFloodSA{source: source, at: time.Now()}
	f.mu.Unlock()
	return info.IKE, true, nil
}

// touch sends an empty INFORMATIONAL on the SA id: activity, to the
// responder.
func (f *nullFlooder) touch(id ike.SAID) error {
	done := make(chan error, 1)
	if err := f.eng.ProbeLiveness(id, 5*time.Second, func(err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("no answer to the INFORMATIONAL in 10 s")
	}
}

// deleted reports whether the responder deleted the SA id.
func (f *nullFlooder) deleted(id ike.SAID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.gone[id]
	return ok
}

// counts is how many SAs are up and how many the responder deleted.
func (f *nullFlooder) counts() (up, gone int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.up), len(f.gone)
}

// close drops everything without telling the responder (the attacker
// walks away) and closes the sockets.
func (f *nullFlooder) close() {
	f.stop()
	<-f.served
	f.mux.Close()
	f.eng.Close()
}

// spiOnly is the flooder's data plane: SPIs, and nothing installed.
type spiOnly struct{}

func (spiOnly) AllocSPI(context.Context, netip.Addr, netip.Addr) (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]) | 0x100, nil
}
func (spiOnly) Install(context.Context, ike.ChildSA) error { return nil }
func (spiOnly) Delete(context.Context, ike.ChildSA) error  { return nil }
