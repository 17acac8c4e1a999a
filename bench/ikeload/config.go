package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"
)

// authMethod is how the initiators authenticate, named as on the command
// line.
type authMethod string

const (
	authPSK     authMethod = "psk"
	authEd25519 authMethod = "ed25519"
	authRSA     authMethod = "rsa"
	authNull    authMethod = "null"
)

// kexMode is the IKE key exchange the initiators offer.
type kexMode string

const (
	kexClassical kexMode = "classical" // X25519 alone
	kexHybrid    kexMode = "hybrid"    // X25519, then ML-KEM-768 in IKE_INTERMEDIATE; nothing else accepted
)

// config is one load run, as the flags give it.
type config struct {
	target      netip.AddrPort // the responder
	src         netip.Prefix   // the initiators' addresses
	count       int            // handshakes to start; 0: until duration
	duration    time.Duration  // stop starting handshakes after this; 0: until count
	rate        float64        // handshakes started per second; 0: as fast as concurrency allows
	concurrency int            // handshakes in flight at most
	auth        authMethod
	psk         string
	keyFile     string // our private key (ed25519, rsa); "" generates one
	peerKeyFile string // the responder's public key, when it signs
	peerAuth    string // how the responder authenticates: psk, key, null ("" as -auth)
	id          string // our IKE identity; "" each source address
	kex         kexMode
	rekeys      int           // CHILD SA rekeys (CREATE_CHILD_SA) per IKE SA after IKE_AUTH
	hold        time.Duration // 0: delete each IKE SA once up; else keep all up this long after the last
	timeout     time.Duration // bound on one handshake (with its rekeys)
	ikePort     int           // our IKE port (0: any)
	nattPort    int           // our NAT-T port (0: any)
	workers     int           // socket readers per socket
	json        bool
}

// parseFlags reads args (without the program name) into a config. Every
// error names the flag and what it wants.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("ikeload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ikeload -target ADDR -src PREFIX [flags]\n       ikeload keys -auth ed25519|rsa -out DIR\n\n%s\nflags:\n", usageText)
		fs.PrintDefaults()
	}
	c := &config{}
	target := fs.String("target", "", "the responder's IPv4 `address` (required)")
	port := fs.Int("port", 500, "the responder's IKE port")
	src := fs.String("src", "", "the initiators' source addresses, an IPv4 `prefix` routed to this host (required): handshake i comes from its i-th host address, round robin")
	fs.IntVar(&c.count, "n", 1000, "handshakes to run (0: as many as -duration allows)")
	fs.DurationVar(&c.duration, "duration", 0, "stop starting handshakes after this long (0: after -n)")
	fs.Float64Var(&c.rate, "rate", 0, "handshakes started per second (0: as fast as -concurrency allows)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "handshakes in flight at most")
	auth := fs.String("auth", "ed25519", "how the initiators authenticate: psk, ed25519, rsa or null")
	fs.StringVar(&c.psk, "psk", "", "the pre-shared key, for -auth psk")
	fs.StringVar(&c.keyFile, "key", "", "the initiators' private key (PKCS#8 PEM) for -auth ed25519 or rsa; empty: a fresh one (the responder must then accept any key)")
	fs.StringVar(&c.peerKeyFile, "peer-key", "", "the responder's public key (PEM), when it authenticates with a key")
	fs.StringVar(&c.peerAuth, "peer-auth", "", "how the responder authenticates: psk, key or null (default: psk for -auth psk, null for -auth null, else key)")
	fs.StringVar(&c.id, "id", "", "the initiators' IKE identity: @fqdn or an address (default: each one's own source address)")
	kex := fs.String("kex", "classical", "IKE key exchange: classical (X25519) or hybrid (X25519 + ML-KEM-768 in IKE_INTERMEDIATE, required)")
	fs.IntVar(&c.rekeys, "rekeys", 0, "CHILD SA rekeys (CREATE_CHILD_SA exchanges) per IKE SA after IKE_AUTH")
	fs.DurationVar(&c.hold, "hold", 0, "keep every SA up until this long after the last handshake, then delete them all (0: delete each IKE SA as soon as it is up)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on one handshake (with its rekeys) after this long")
	fs.IntVar(&c.ikePort, "local-port", 500, "our IKE port (0: any free port)")
	fs.IntVar(&c.nattPort, "local-natt-port", 4500, "our NAT-T port (0: any free port)")
	fs.IntVar(&c.workers, "workers", runtime.GOMAXPROCS(0), "socket readers per socket (the initiators' crypto runs on them)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON on stdout (the human line still goes to stderr)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch a, err := netip.ParseAddr(*target); {
	case *target == "":
		bad("-target: missing: give the responder's IPv4 address")
	case err != nil || !a.Unmap().Is4():
		bad("-target %q: want an IPv4 address", *target)
	case *port < 1 || *port > 65535:
		bad("-port %d: want 1 to 65535", *port)
	default:
		c.target = netip.AddrPortFrom(a.Unmap(), uint16(*port))
	}
	switch p, err := netip.ParsePrefix(*src); {
	case *src == "":
		bad("-src: missing: give the initiators' IPv4 prefix, e.g. 10.1.0.0/16")
	case err != nil || !p.Addr().Is4():
		bad("-src %q: want an IPv4 prefix such as 10.1.0.0/16", *src)
	case p.Bits() > 30:
		bad("-src %q: want a /30 or wider (it holds the initiators' addresses)", *src)
	default:
		c.src = p.Masked()
	}
	if c.count < 0 || c.duration < 0 || (c.count == 0 && c.duration == 0) {
		bad("-n %d, -duration %v: want a positive count, a positive duration or both", c.count, c.duration)
	}
	if c.rate < 0 {
		bad("-rate %v: want ≥ 0 (0: as fast as possible)", c.rate)
	}
	if c.concurrency < 1 {
		bad("-concurrency %d: want ≥ 1", c.concurrency)
	}
	c.auth = authMethod(strings.ToLower(*auth))
	switch c.auth {
	case authPSK:
		if c.psk == "" {
			bad("-auth psk needs -psk SECRET")
		}
	case authEd25519, authRSA, authNull:
		if c.psk != "" && c.peerAuth != "psk" {
			bad("-psk is for -auth psk (or -peer-auth psk), not -auth %s", c.auth)
		}
	default:
		bad("-auth %q: want psk, ed25519, rsa or null", *auth)
		if c.peerAuth == "" {
			c.peerAuth = "null" // no second error for a default derived from a bad -auth
		}
	}
	if c.keyFile != "" && c.auth != authEd25519 && c.auth != authRSA {
		bad("-key is for -auth ed25519 or rsa, not -auth %s", c.auth)
	}
	if c.peerAuth == "" {
		switch c.auth {
		case authPSK:
			c.peerAuth = "psk"
		case authNull:
			c.peerAuth = "null"
		default:
			c.peerAuth = "key"
		}
	}
	switch c.peerAuth {
	case "key":
		if c.peerKeyFile == "" {
			bad("-peer-auth key: give the responder's public key with -peer-key FILE")
		}
	case "psk":
		if c.psk == "" {
			bad("-peer-auth psk needs -psk SECRET")
		}
	case "null":
	default:
		bad("-peer-auth %q: want psk, key or null", c.peerAuth)
	}
	c.kex = kexMode(strings.ToLower(*kex))
	if c.kex != kexClassical && c.kex != kexHybrid {
		bad("-kex %q: want classical or hybrid", *kex)
	}
	if c.rekeys < 0 {
		bad("-rekeys %d: want ≥ 0", c.rekeys)
	}
	if c.hold < 0 {
		bad("-hold %v: want ≥ 0", c.hold)
	}
	if c.timeout <= 0 {
		bad("-timeout %v: want a positive duration", c.timeout)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"-local-port", c.ikePort}, {"-local-natt-port", c.nattPort}} {
		if p.v < 0 || p.v > 65535 {
			bad("%s %d: want 0 to 65535", p.name, p.v)
		}
	}
	if c.ikePort != 0 && c.ikePort == c.nattPort {
		bad("-local-port and -local-natt-port are both %d: want two ports", c.ikePort)
	}
	if c.workers < 1 {
		bad("-workers %d: want ≥ 1", c.workers)
	}
	if c.id != "" {
		if _, err := parseID(c.id); err != nil {
			bad("-id: %v", err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// hosts is the number of usable addresses in the source prefix: all but
// the prefix's first and last (network and broadcast on a LAN).
func (c *config) hosts() int {
	bits := 32 - c.src.Bits()
	return 1<<bits - 2
}

// source returns handshake i's source address: host addresses of the
// prefix, round robin, skipping its first and last address.
func (c *config) source(i int) netip.Addr {
	n := uint32(i%c.hosts()) + 1
	b := c.src.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

const usageText = `ikeload runs IKEv2 handshakes (IKE_SA_INIT, IKE_AUTH with one CHILD SA)
against one responder from many source addresses, using oemesh's own
IKE engine as the initiators, and reports handshakes per second, the
latency percentiles and the failures by reason.

The source addresses need no interface of their own: route the whole
prefix to this host ("ip route add local 10.1.0.0/16 dev lo") and the
responder's way back to it; two sockets (IP_FREEBIND, IP_PKTINFO) carry
every initiator.

ikeload keys writes a key pair for the initiators and one for the
responder, to configure both sides.`

func exitUsage(err error) {
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(2)
	}
	os.Exit(0)
}
