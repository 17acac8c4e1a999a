// Command oemem measures oemeshd's memory per established peer: one
// responder oemeshd, and a load generator made of our own IKE initiator
// (ike.Engine over udpmux sockets, one per source address) that
// brings up an IKE SA and a CHILD SA from each of -peers addresses. The
// responder authenticates each initiator by the IPSECKEY record that the
// lab's DNS server publishes at the reverse name of its address (one key
// shared by all of them; the responder still looks up, caches and checks
// each name), and installs each CHILD SA in its data plane (userspace on a
// kernel without ESP).
//
// The responder's resident memory (VmRSS and RssAnon, which it reads from
// its /proc/self/status for GET /v1/memory) is read after -warm peers (so one-off costs — code
// paths first touched, TUN buffers, pools — are paid) and again after
// -peers more; the difference divided by -peers is the cost of one
// established peer. So is the Go heap the daemon holds live right after a
// garbage collection (GET /v1/memory?gc=1, runtime/metrics): Go's heap
// grows ahead of its live size (GOGC), so RSS overstates the live memory
// and is an upper bound. -profile DIR saves the responder's heap profile
// at each reading, for `go tool pprof -diff_base`.
//
// With -hold it then keeps every peer up that long while their SAs rekey
// (-child-lifetime, -ike-lifetime), and reports the responder's CPU at
// rest, its goroutines, and the rekeys per second it answered (hold.go):
// bench/peers-10k.sh runs it with 10,000 peers.
//
// Topology (inside namespaces "oemem<pid>-*" only, removed on exit): a LAN
// 198.18.0.0/24 with the responder (.2), the DNS server (.53) and the load
// generator (.9); the initiators' addresses, 198.19.0.0/16, are local to
// the load generator through one route (`ip route add local … dev lo`,
// no address per initiator) and routed to it through .9, so the responder
// keeps one neighbour entry, not thousands. Run it as root through
// bench/oe-perf.sh or bench/peers-10k.sh.
package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/udpmux"
)

var (
	respAddr = netip.MustParseAddr("198.18.0.2")
	dnsAddr  = netip.MustParseAddr("198.18.0.53")
	loadAddr = netip.MustParseAddr("198.18.0.9")
	peerNet  = netip.MustParsePrefix("198.19.0.0/16")
)

func main() {
	bin := flag.String("bin", "bin", "directory holding oemeshd")
	peers := flag.Int("peers", 1000, "established peers measured")
	warm := flag.Int("warm", 100, "peers brought up before the first reading")
	conc := flag.Int("concurrency", 16, "handshakes in flight at once")
	keep := flag.Bool("v", false, "print the responder's log on failure")
	keepLog := flag.String("log", "", "copy the responder's log to `FILE` at the end")
	profiles := flag.String("profile", "", "save the responder's heap profile at each reading in `DIR`")
	idle := flag.Duration("idle", 35*time.Second, "then wait this long with no traffic and read again (the data plane releases idle SAs' cipher state after 30 s); 0: don't")
	var h holdConfig
	flag.DurationVar(&h.hold, "hold", 0, "then keep every peer up this long while their SAs rekey, and report (hold.go); 0: don't")
	flag.DurationVar(&h.rest, "rest", 20*time.Second, "with -hold: the responder's CPU at rest is read over this long, before the first rekey")
	flag.DurationVar(&h.child, "child-lifetime", 0, "CHILD SA lifetime on both sides (0: the defaults, 1 h)")
	flag.DurationVar(&h.ike, "ike-lifetime", 0, "IKE SA lifetime on both sides (0: the defaults, 4 h)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "oemem: must run as root (network namespaces, TUN)")
		os.Exit(2)
	}
	if *peers < 1 || *warm < 1 || *warm+*peers > 65000 || *conc < 1 {
		fmt.Fprintln(os.Stderr, "oemem: want -peers ≥ 1, -warm ≥ 1, -concurrency ≥ 1 and -warm + -peers ≤ 65000 (the /16)")
		os.Exit(2)
	}
	oemeshd, err := filepath.Abs(filepath.Join(*bin, "oemeshd"))
	if err == nil {
		_, err = os.Stat(oemeshd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "oemem: oemeshd: %v (build it with `make build`, or give -bin)\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{oemeshd: oemeshd, conc: *conc, profiles: *profiles, idle: *idle, hold: h}
	if *profiles != "" {
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "oemem: -profile:", err)
			os.Exit(2)
		}
	}
	err = b.run(ctx, *warm, *peers)
	if err != nil && *keep {
		if log, rerr := os.ReadFile(filepath.Join(b.work, "oemeshd.log")); rerr == nil {
			fmt.Fprintf(os.Stderr, "--- responder log:\n%s\n", log)
		}
	}
	if *keepLog != "" && b.work != "" {
		if log, rerr := os.ReadFile(filepath.Join(b.work, "oemeshd.log")); rerr == nil {
			_ = os.WriteFile(*keepLog, log, 0o644)
		}
	}
	b.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oemem:", err)
		os.Exit(1)
	}
}

type bench struct {
	oemeshd  string
	conc     int
	work     string
	lab      *lab.Lab
	dns      *lab.DNSServer
	daemon   *exec.Cmd
	waited   chan error
	tr       *udpmux.Mux
	eng      *ike.Engine
	stopSrv  context.CancelFunc
	served   chan error
	respKey  crypto.PublicKey
	profiles string // directory for heap profiles, or ""
	reading  int    // readings taken so far
	idle     time.Duration
	hold     holdConfig
	report   *holdReport // with hold: what the hold phase saw
	// ikeDown counts the initiators' IKE SAs that went down (a rekey
	// replaces one without reporting it).
	ikeDown atomic.Uint64
}

func (b *bench) close() {
	if b.eng != nil {
		b.eng.Close()
	}
	if b.stopSrv != nil {
		b.stopSrv()
		<-b.served
	}
	if b.tr != nil {
		b.tr.Close()
	}
	if b.daemon != nil {
		b.daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.waited:
		case <-time.After(10 * time.Second):
			b.daemon.Process.Kill()
			<-b.waited
		}
	}
	if b.dns != nil {
		b.dns.Close()
	}
	if b.lab != nil {
		b.lab.Close()
	}
	if b.work != "" {
		os.RemoveAll(b.work)
	}
}

func (b *bench) run(ctx context.Context, warm, peers int) error {
	var err error
	if b.work, err = os.MkdirTemp("", "oemem-"); err != nil {
		return err
	}
	addrs := make([]netip.Addr, warm+peers)
	a := peerNet.Addr().Next()
	for i := range addrs {
		addrs[i], a = a, a.Next()
	}
	if err := b.topology(addrs); err != nil {
		return err
	}
	initKey, err := b.publish(addrs)
	if err != nil {
		return err
	}
	if err := b.startResponder(ctx); err != nil {
		return err
	}
	if err := b.startInitiators(addrs, initKey); err != nil {
		return err
	}

	time.Sleep(time.Second)
	base, err := b.memory(ctx, control.NewClient(b.socket()), "heap-0.pb.gz")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "oemem: responder up, RSS %s; %d warm-up peers\n", kib(base.rss), warm)
	if err := b.establish(ctx, addrs[:warm]); err != nil {
		return err
	}
	if b.idle > 0 {
		// The warm-up peers go idle first, so that both differences below
		// are exact: r2-r1 is 1,000 fresh peers, r3-r1 1,000 idle ones.
		fmt.Fprintf(os.Stderr, "oemem: %d warm-up peers up; idle for %v\n", warm, b.idle)
		if err := sleepCtx(ctx, b.idle); err != nil {
			return err
		}
	}
	r1, err := b.settle(ctx, warm)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "oemem: %d peers, RSS %s; %d more\n", warm, kib(r1.rss), peers)
	start := time.Now()
	if err := b.establish(ctx, addrs[warm:]); err != nil {
		return err
	}
	took := time.Since(start)
	r2, err := b.settle(ctx, warm+peers)
	if err != nil {
		return err
	}
	fmt.Printf("responder memory with %d established peers (after %d warm-up peers; %d handshakes in %.1f s, %.0f/s):\n",
		peers, warm, peers, took.Seconds(), float64(peers)/took.Seconds())
	fmt.Printf("  VmRSS   %s → %s → %s: %.2f KiB per peer\n", kib(base.rss), kib(r1.rss), kib(r2.rss), float64(r2.rss-r1.rss)/1024/float64(peers))
	fmt.Printf("  RssAnon %s → %s → %s: %.2f KiB per peer\n", kib(base.anon), kib(r1.anon), kib(r2.anon), float64(r2.anon-r1.anon)/1024/float64(peers))
	fmt.Printf("  Go live heap after a collection %s → %s → %s: %.2f KiB per peer (%.1f heap objects per peer)\n",
		kib(base.live), kib(r1.live), kib(r2.live), float64(r2.live-r1.live)/1024/float64(peers), float64(r2.objects-r1.objects)/float64(peers))
	if b.idle > 0 {
		fmt.Fprintf(os.Stderr, "oemem: %d peers, RSS %s; idle for %v\n", warm+peers, kib(r2.rss), b.idle)
		if err := sleepCtx(ctx, b.idle); err != nil {
			return err
		}
		r3, err := b.settle(ctx, warm+peers)
		if err != nil {
			return err
		}
		fmt.Printf("the same %d peers after %v without traffic (idle SA directions keep their keys, not their cipher state):\n", peers, b.idle)
		fmt.Printf("  VmRSS   %s: %.2f KiB per peer\n", kib(r3.rss), float64(r3.rss-r1.rss)/1024/float64(peers))
		fmt.Printf("  RssAnon %s: %.2f KiB per peer\n", kib(r3.anon), float64(r3.anon-r1.anon)/1024/float64(peers))
		fmt.Printf("  Go live heap after a collection %s: %.2f KiB per peer (%.1f heap objects per peer)\n",
			kib(r3.live), float64(r3.live-r1.live)/1024/float64(peers), float64(r3.objects-r1.objects)/float64(peers))
	}
	if b.profiles != "" {
		fmt.Printf("  heap profiles: %s/heap-{0,1,2,3}.pb.gz (go tool pprof -diff_base heap-1.pb.gz heap-2.pb.gz)\n", b.profiles)
	}
	if b.hold.hold > 0 {
		rep, err := b.holdPhase(ctx, warm+peers, base, r1, warm)
		b.report = rep
		if rep != nil {
			rep.print(os.Stdout) // what it saw, also when it failed
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// topology makes the LAN and puts the initiators' addresses on the load
// generator's loopback.
func (b *bench) topology(addrs []netip.Addr) error {
	l, err := lab.New(fmt.Sprintf("oemem%d", os.Getpid()%100000))
	if err != nil {
		return err
	}
	b.lab = l
	sw, err := l.AddSwitch("sw")
	if err != nil {
		return err
	}
	nodes := map[string]*lab.Node{}
	for name, addr := range map[string]netip.Addr{"resp": respAddr, "dns": dnsAddr, "load": loadAddr} {
		n, err := l.AddHost(name)
		if err != nil {
			return err
		}
		if err := l.Connect(n, sw, "eth0", netip.PrefixFrom(addr, 24).String()); err != nil {
			return err
		}
		nodes[name] = n
	}
	// AnyIP: every address of the /16 is local to the load generator,
	// and its sockets bind to them, without an address each.
	if out, err := exec.Command("ip", "-n", nodes["load"].NSName, "route", "add", "local", peerNet.String(), "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("local route for %v: %v: %s", peerNet, err, out)
	}
	for _, n := range []string{"resp", "dns"} {
		if err := nodes[n].Route(peerNet.String(), loadAddr.String()); err != nil {
			return err
		}
	}
	b.dns = lab.NewDNSServer(60)
	if _, err := b.dns.Start(nodes["dns"], dnsAddr); err != nil {
		return err
	}
	return nil
}

// publish makes the initiators' key and publishes it at each address's
// reverse name; it returns the key.
func (b *bench) publish(addrs []netip.Addr) (crypto.Signer, error) {
	key, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		name, err := dns.ReverseAddr(a.String())
		if err != nil {
			return nil, err
		}
		rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 3600, Precedence: 10,
			Gateway: dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: a}, PublicKey: key.Public()})
		if err != nil {
			return nil, err
		}
		b.dns.Add(rr)
	}
	return key, nil
}

func (b *bench) socket() string { return filepath.Join(b.work, "oemeshd.sock") }

// startResponder writes the responder's key, policy and configuration
// and starts oemeshd in its namespace.
func (b *bench) startResponder(ctx context.Context) error {
	key, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		return err
	}
	b.respKey = key.Public()
	if err := dnskey.WriteHostKey(filepath.Join(b.work, "hostkey.pem"), key, true); err != nil {
		return err
	}
	pol := filepath.Join(b.work, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pol, "clear-or-private"), []byte(peerNet.String()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pol, "clear"), []byte(dnsAddr.String()+"\n"), 0o644); err != nil {
		return err
	}
	cfg := filepath.Join(b.work, "oemesh.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`hostkey: %s
policies: %s
control_socket: %s
dns:
  servers: ["%s"]
  require_dnssec: false
  timeout: 2s
oe:
  idle_timeout: 1h
%slog:
  level: info
`, filepath.Join(b.work, "hostkey.pem"), pol, b.socket(), netip.AddrPortFrom(dnsAddr, 53), b.hold.lifetimes())), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(b.work, "oemeshd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command("ip", "netns", "exec", b.lab.Node("resp").NSName, b.oemeshd, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if b.profiles != "" {
		// Record every allocation, not one per 512 KiB: exact profiles.
		cmd.Env = append(os.Environ(), "GODEBUG=memprofilerate=1")
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting oemeshd: %w", err)
	}
	b.daemon, b.waited = cmd, make(chan error, 1)
	go func() { b.waited <- cmd.Wait(); logf.Close() }()
	client := control.NewClient(b.socket())
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st control.Status
		if err := client.Do(ctx, "GET", "/v1/status", nil, &st); err == nil {
			return nil
		}
		select {
		case err := <-b.waited:
			b.waited <- err
			return fmt.Errorf("oemeshd exited: %v (log in %s)", err, b.work)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("oemeshd did not answer on its control socket within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startInitiators opens the IKE and NAT-T sockets of every address in the
// load generator's namespace (port 4500 too: the responder's userspace data
// plane has it force UDP encapsulation, kernel.udp_encap auto, so each IKE SA
// moves there) and one engine over them all.
func (b *bench) startInitiators(addrs []netip.Addr, key crypto.Signer) error {
	err := b.lab.Node("load").Do(func() error {
		var err error
		b.tr, err = udpmux.Listen(context.Background(), udpmux.Config{Addrs: addrs, Port: ike.IKEPort, NATTPort: ike.NATTPort})
		return err
	})
	if err != nil {
		return fmt.Errorf("initiator sockets: %w", err)
	}
	b.eng, err = ike.NewEngine(ike.EngineConfig{
		Credentials: ike.Credentials{Signer: key}, // ID: each SA's local address
		Keys:        staticKey{b.respKey},
		Installer:   &nullInstaller{},
		Sender:      b.tr,
		GiveUp:      20 * time.Second,
		// As the responder's (startResponder): with both the same, the
		// initiators rekey first (the responder waits half the margin).
		IKELifetime:   b.hold.ike,
		ChildLifetime: b.hold.child,
		OnIKEDown:     func(ike.SAInfo, error) { b.ikeDown.Add(1) },
	})
	if err != nil {
		return err
	}
	srvCtx, cancel := context.WithCancel(context.Background())
	b.stopSrv, b.served = cancel, make(chan error, 1)
	go func() { b.served <- b.tr.Serve(srvCtx, b.eng.HandlePacket) }()
	return nil
}

// establish brings up an IKE SA with a CHILD SA from each address.
func (b *bench) establish(ctx context.Context, addrs []netip.Addr) error {
	var (
		next   atomic.Int64
		failed atomic.Int64
		first  sync.Once
		ferr   error
		wg     sync.WaitGroup
	)
	for range b.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(addrs) || ctx.Err() != nil {
					return
				}
				ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := b.eng.Initiate(ictx, ike.InitiateOptions{
					Remote: netip.AddrPortFrom(respAddr, ike.IKEPort), Local: addrs[i], Auth: ike.AuthKindPubkey, Mode: ike.ModeTunnel,
				})
				cancel()
				if err != nil {
					failed.Add(1)
					first.Do(func() { ferr = fmt.Errorf("from %s: %w", addrs[i], err) })
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d handshakes failed; the first %w", n, len(addrs), ferr)
	}
	return nil
}

// settle waits until the responder lists want SAs and its memory has
// stopped moving, then reads it.
func (b *bench) settle(ctx context.Context, want int) (mem, error) {
	client := control.NewClient(b.socket())
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The status's count, not the SA list: a list of a thousand SAs
		// leaves encoder buffers behind that are not the daemon's state.
		var st control.Status
		err := client.Do(ctx, "GET", "/v1/status", nil, &st)
		if err == nil && st.Counts["tunnels"] == uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			return mem{}, fmt.Errorf("the responder counts %d tunnels, want %d (%v)", st.Counts["tunnels"], want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	return b.memory(ctx, client, fmt.Sprintf("heap-%d.pb.gz", b.reading))
}

// memory makes the responder collect garbage and reads its memory:
// the live heap (runtime/metrics, exact), VmRSS and RssAnon. With -profile
// it also saves the responder's heap profile as name in that directory.
func (b *bench) memory(ctx context.Context, client *control.Client, name string) (mem, error) {
	b.reading++
	if b.profiles != "" {
		f, err := os.Create(filepath.Join(b.profiles, name))
		if err != nil {
			return mem{}, err
		}
		err = client.Fetch(ctx, "/v1/debug/heap?gc=1", f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return mem{}, err
		}
	}
	var m control.Memory
	if err := client.Do(ctx, "GET", "/v1/memory?gc=1", nil, &m); err != nil {
		return mem{}, err
	}
	return mem{rss: int64(m.RSS), anon: int64(m.RSSAnon), live: int64(m.HeapLive), objects: int64(m.HeapObjects), goroutines: int64(m.Goroutines)}, nil
}

type mem struct {
	rss, anon int64 // bytes
	live      int64 // live heap after a collection at the reading, bytes
	objects   int64 // live heap objects
	// goroutines counts the daemon's goroutines at the reading.
	goroutines int64
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func kib(n int64) string { return fmt.Sprintf("%d KiB", n/1024) }

// staticKey is the initiators' KeyResolver: the responder's one key.
type staticKey struct{ key crypto.PublicKey }

func (s staticKey) PeerKeys(context.Context, ike.Identity, netip.Addr) ([]crypto.PublicKey, error) {
	return []crypto.PublicKey{s.key}, nil
}

// nullInstaller hands out SPIs and installs nothing: the initiators are
// load, not a data plane.
type nullInstaller struct{ spi atomic.Uint32 }

func (n *nullInstaller) AllocSPI(context.Context, netip.Addr, netip.Addr) (uint32, error) {
	return 0x1000 + n.spi.Add(1), nil
}
func (n *nullInstaller) Install(context.Context, ike.ChildSA) error { return nil }
func (n *nullInstaller) Delete(context.Context, ike.ChildSA) error  { return nil }
