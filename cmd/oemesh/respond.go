package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/internal/udpmux"
)

// respondEvent is one line of `oemesh respond --json`.
type respondEvent struct {
	Time  time.Time  `json:"time"`
	Event string     `json:"event"` // ike_up, child_up, child_down, ike_down
	IKE   *ikeSAJSON `json:"ike,omitempty"`
	Child *childJSON `json:"child,omitempty"`
	Error string     `json:"error,omitempty"`
	Pool  *poolJSON  `json:"pool,omitempty"` // with --address-pool
}

// respondPolicy is the responder test mode's policy: any peer that
// authenticates the way --peer-auth says (and proves --peer-id when given)
// gets the CHILD SA it asks for, in the mode it asks for.
type respondPolicy struct {
	peerAuth ike.AuthKind
	peerID   ike.Identity
}

func (p respondPolicy) AcceptAuth(_ context.Context, req ike.AuthRequest) error {
	if req.Kind != p.peerAuth {
		return fmt.Errorf("peer %v authenticates with %v, we accept %v only", req.PeerID, req.Kind, p.peerAuth)
	}
	if p.peerID.Type != 0 && !ike.SameIdentity(p.peerID, req.PeerID) {
		return fmt.Errorf("peer identity %v is not --peer-id %v", req.PeerID, p.peerID)
	}
	return nil
}

func (p respondPolicy) Child(_ context.Context, req ike.ChildRequest) (ike.ChildDecision, error) {
	mode := ike.ModeTunnel
	if req.Transport {
		mode = ike.ModeTransport
	}
	return ike.ChildDecision{TSi: req.TSi, TSr: req.TSr, Mode: mode}, nil
}

// eventPrinter writes respond's events, one per line, from any goroutine.
type eventPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func (p *eventPrinter) print(ev respondEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, err := json.Marshal(ev)
		if err != nil {
			fmt.Fprintf(p.w, "{\"event\":\"error\",\"error\":%q}\n", err.Error())
			return
		}
		p.w.Write(append(b, '\n'))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ev.Time.Format("15:04:05.000"), ev.Event)
	if s := ev.IKE; s != nil {
		fmt.Fprintf(&b, " IKE %s_i %s_r %s <-> %s peer %s (%s) %s", s.SPIi, s.SPIr, s.Local, s.Remote, s.PeerID, s.PeerAuth, s.Suite.Encr)
		if s.Suite.Integ != "" {
			fmt.Fprintf(&b, " %s", s.Suite.Integ)
		}
		fmt.Fprintf(&b, " %s %s", s.Suite.PRF, s.Suite.DH)
		if s.KeyExchanges != "" {
			fmt.Fprintf(&b, " keyed by %s", s.KeyExchanges)
		}
	}
	if c := ev.Child; c != nil {
		fmt.Fprintf(&b, " CHILD %s SPI in %s out %s %s %s === %s", c.Mode, c.SPIIn, c.SPIOut, c.Encr,
			strings.Join(c.TSLocal, ","), strings.Join(c.TSRemote, ","))
		if len(c.VirtualIPs) > 0 {
			fmt.Fprintf(&b, " virtual IP %s", strings.Join(c.VirtualIPs, ","))
		}
	}
	b.WriteString(poolText(ev.Pool))
	if ev.Error != "" {
		fmt.Fprintf(&b, " error: %s", ev.Error)
	}
	fmt.Fprintln(p.w, b.String())
}

func newRespondCmd(g *globalFlags) *cobra.Command {
	var f ikeToolFlags
	var listen []string
	var port, nattPort, count, cookieThreshold int
	var liveness time.Duration
	var poolRanges []string
	cmd := &cobra.Command{
		Use:   "respond --listen ADDR",
		Short: "Answer IKEv2 as a responder with a data plane that installs nothing",
		Long: `Answer IKE_SA_INIT, IKE_AUTH and the rest as oemeshd's responder would, with
a data plane that installs nothing, and print each IKE and CHILD SA as it
comes up or goes down (one JSON object per line with --json). It runs until
interrupted, or until --count CHILD SAs have been established and their
peers have deleted them (at most 3 s later).

Peers that initiate toward it show whether they and oemesh agree, before the
daemon runs. Without --ike it accepts what oemeshd accepts for --pq (as
oemeshd's ike.pq): prefer (the default) runs ML-KEM-768 with an initiator
that offers it and comes up classically with one that does not, require
refuses an initiator without it, off runs no additional key exchange.

With --address-pool it serves mode config: an initiator that asks for an
internal address with CP(CFG_REQUEST) in IKE_AUTH gets one from the pool,
and its CHILD SA's selectors are narrowed to that address; the lease goes
back to the pool when the IKE SA is deleted. Each event then carries the
pool's state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(listen) == 0 {
				return errors.New("--listen ADDR is required")
			}
			var addrs []netip.Addr
			for _, l := range listen {
				a, err := netip.ParseAddr(l)
				if err != nil {
					return fmt.Errorf("--listen %q: %w", l, err)
				}
				addrs = append(addrs, a.Unmap())
			}
			s, err := f.setup(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cookieThreshold < -1 {
				return fmt.Errorf("--cookie-threshold %d: want -1 (always), 0 (default) or a count", cookieThreshold)
			}
			pool, err := parseAddressPool(poolRanges)
			if err != nil {
				return err
			}
			return runRespond(ctx, s, &f, respondOptions{addrs: addrs, port: port, nattPort: nattPort, count: count, cookieThreshold: cookieThreshold, liveness: liveness, pool: pool},
				&eventPrinter{w: cmd.OutOrStdout(), json: g.json})
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&f.moreCerts, "more-cert", nil, "a further certificate and its key as CERTFILE,KEYFILE (--auth cert): respond answers with it an initiator whose IDr names it, or whose CERTREQ names its intermediate, instead of --cert (repeat for several)")
	cmd.Flags().StringSliceVar(&listen, "listen", nil, "address to answer on (repeat or comma-separate for several; 0.0.0.0 or :: for all)")
	cmd.Flags().IntVar(&port, "port", ike.IKEPort, "IKE port")
	cmd.Flags().IntVar(&nattPort, "natt-port", ike.NATTPort, "NAT-T port")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many CHILD SAs came up and were deleted (0: run until interrupted)")
	cmd.Flags().DurationVar(&liveness, "liveness", 0, "send an empty INFORMATIONAL after this long without traffic from the peer (0: never)")
	addressPoolFlag(cmd, &poolRanges)
	cmd.Flags().IntVar(&cookieThreshold, "cookie-threshold", 0, "half-open SAs above which IKE_SA_INIT needs a cookie (0: the engine's default; -1: always)")
	return cmd
}

// countLinger is how long respond --count keeps answering after the last
// CHILD SA came up, so that the peer's Delete gets its response.
const countLinger = 3 * time.Second

// lingerThenStop waits for reached, then until no IKE SA is left (the
// peer deleted them) or countLinger has passed, and calls stop.
func lingerThenStop(ctx context.Context, reached <-chan struct{}, eng *ike.Engine, stop func()) {
	select {
	case <-reached:
	case <-ctx.Done():
		return
	}
	deadline := time.NewTimer(countLinger)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(eng.SAs()) > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			stop()
			return
		case <-ctx.Done():
			return
		}
	}
	stop()
}

// respondOptions are respond's own flags.
type respondOptions struct {
	addrs                                  []netip.Addr
	port, nattPort, count, cookieThreshold int
	liveness                               time.Duration
	pool                                   *addrpool.Pool // --address-pool; nil: none
}

func runRespond(ctx context.Context, s *ikeSetup, f *ikeToolFlags, o respondOptions, out *eventPrinter) error {
	count := o.count
	tr, err := udpmux.Listen(ctx, udpmux.Config{
		Addrs: o.addrs, Port: o.port, NATTPort: o.nattPort,
		Mark: f.mark, Bypass: udpmux.BypassIfPermitted, Logger: s.log,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	ikeAddrs, nattAddrs := tr.LocalAddrs()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	up := 0
	reached := make(chan struct{}) // closed when --count CHILD SAs came up
	var eng *ike.Engine
	saJSON := func(id ike.SAID) *ikeSAJSON {
		for _, sa := range eng.SAs() {
			if sa.ID == id {
				j := ikeInfoJSON(sa)
				return &j
			}
		}
		return nil
	}
	eng, err = ike.NewEngine(ike.EngineConfig{
		Credentials: s.creds, Keys: s.keys, CertVerifier: s.certVerifier, CertAuthorities: s.certAuthorities, CertNameMatch: certHoldsID,
		Installer: newNullDataplane(), Sender: tr, Logger: s.log,
		Policy: respondPolicy{peerAuth: s.peerAuth, peerID: s.peerID},
		IKE:    s.ikePolicy, ESP: s.espPolicy,
		IKEPort: ikeAddrs[0].Port(), NATTPort: nattAddrs[0].Port(),
		GiveUp: f.timeout, FragmentThreshold: f.fragThreshold, ForceUDPEncap: f.udpEncap,
		HalfOpenCookieThreshold: o.cookieThreshold, Liveness: o.liveness,
		AddressPool: o.pool,
		OnEstablished: func(sa ike.SAInfo) {
			j := ikeInfoJSON(sa)
			out.print(respondEvent{Time: time.Now(), Event: "ike_up", IKE: &j, Pool: poolState(o.pool)})
		},
		OnChildUp: func(c ike.ChildSAInfo) {
			cj := childInfoJSON(c)
			out.print(respondEvent{Time: time.Now(), Event: "child_up", IKE: saJSON(c.IKE), Child: &cj, Pool: poolState(o.pool)})
			mu.Lock()
			up++
			if count > 0 && up == count {
				close(reached)
			}
			mu.Unlock()
		},
		OnChildDown: func(c ike.ChildSAInfo, err error) {
			cj := childInfoJSON(c)
			ev := respondEvent{Time: time.Now(), Event: "child_down", Child: &cj}
			if err != nil {
				ev.Error = err.Error()
			}
			out.print(ev)
		},
		OnIKEDown: func(sa ike.SAInfo, err error) {
			j := ikeInfoJSON(sa)
			ev := respondEvent{Time: time.Now(), Event: "ike_down", IKE: &j, Pool: poolState(o.pool)}
			if err != nil {
				ev.Error = err.Error()
			}
			out.print(ev)
		},
	})
	if err != nil {
		return err
	}
	ikeList, nattList := make([]string, 0, len(ikeAddrs)), make([]string, 0, len(nattAddrs))
	for _, a := range ikeAddrs {
		ikeList = append(ikeList, a.String())
	}
	for _, a := range nattAddrs {
		nattList = append(nattList, a.String())
	}
	s.log.Info("responding", "ike", ikeList, "natt", nattList, "auth", s.auth, "peer_auth", s.peerAuth)
	if count > 0 {
		go lingerThenStop(ctx, reached, eng, cancel)
	}
	err = tr.Serve(ctx, eng.HandlePacket)
	eng.Close()
	return err
}
