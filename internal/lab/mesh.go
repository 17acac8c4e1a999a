package lab

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
)

// The standard mesh: a LAN (198.18.0.0/24, 2001:db8:1::/64) on switch "sw"
// with the DNS server and hosts a, b, c, d and g; host e sits behind g on
// its own link (198.18.1.0/24, 2001:db8:2::/64). 198.18.0.0/15 is used, not
// 192.0.2.0/24, because Libreswan's resolver treats the latter's reverse
// zone as local and empty.
var (
	meshLAN4, meshLAN6 = netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("2001:db8:1::/64")
	meshE4, meshE6     = netip.MustParsePrefix("198.18.1.0/24"), netip.MustParsePrefix("2001:db8:2::/64")
)

// MeshHost is one host of the mesh.
type MeshHost struct {
	Name         string
	Node         *Node
	Addr4, Addr6 netip.Addr
	Key          crypto.Signer // nil for hosts that publish no key
	Dir          string        // its configuration directory
	Socket       string        // its oemeshd control socket
	daemon       *exec.Cmd
	daemonDone   chan error
}

// MeshOptions configure NewMesh.
type MeshOptions struct {
	Prefix  string // namespace name prefix
	WorkDir string // where hosts' configuration lives
	Oemeshd string // the daemon binary
	// Keyed names the hosts that publish a key (default a, b, c, g); e's
	// record always names g as its gateway with g's key.
	Keyed []string
	// NegTTL is the DNS negative-answer TTL in seconds (default 2).
	NegTTL uint32
}

// Mesh is the standard OE mesh: namespaces, DNS, keys and daemons.
type Mesh struct {
	Lab   *Lab
	DNS   *DNSServer
	DNSAt netip.AddrPort
	Sw    *Node
	Hosts map[string]*MeshHost
	opts  MeshOptions
}

// NewMesh builds the topology, generates keys, publishes them in the
// embedded DNS server and writes each host's configuration. Daemons are
// started with StartDaemon.
func NewMesh(opts MeshOptions) (m *Mesh, err error) {
	if opts.NegTTL == 0 {
		opts.NegTTL = 2
	}
	if opts.Keyed == nil {
		opts.Keyed = []string{"a", "b", "c", "g"}
	}
	l, err := New(opts.Prefix)
	if err != nil {
		return nil, err
	}
	m = &Mesh{Lab: l, Hosts: map[string]*MeshHost{}, opts: opts}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.Sw, err = l.AddSwitch("sw"); err != nil {
		return nil, err
	}
	lan := map[string]int{"dns": 53, "a": 1, "b": 2, "c": 3, "d": 4, "g": 5}
	for _, name := range []string{"dns", "a", "b", "c", "d", "g"} {
		n, err := l.AddHost(name)
		if err != nil {
			return nil, err
		}
		i := lan[name]
		h := &MeshHost{Name: name, Node: n, Addr4: nth(meshLAN4, i), Addr6: nth(meshLAN6, i)}
		if err := l.Connect(n, m.Sw, "eth0", pfx(h.Addr4, 24), pfx(h.Addr6, 64)); err != nil {
			return nil, err
		}
		m.Hosts[name] = h
	}
	g := m.Hosts["g"]
	en, err := l.AddHost("e")
	if err != nil {
		return nil, err
	}
	e := &MeshHost{Name: "e", Node: en, Addr4: nth(meshE4, 10), Addr6: nth(meshE6, 10)}
	m.Hosts["e"] = e
	if err := l.Link(g.Node, "eth1", []string{pfx(nth(meshE4, 1), 24), pfx(nth(meshE6, 1), 64)},
		en, "eth0", []string{pfx(e.Addr4, 24), pfx(e.Addr6, 64)}); err != nil {
		return nil, err
	}
	if err := g.Node.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return nil, err
	}
	if err := g.Node.Sysctl("net/ipv6/conf/all/forwarding", "1"); err != nil {
		return nil, err
	}
	for name, h := range m.Hosts {
		if name == "e" || name == "g" {
			continue
		}
		if err := h.Node.Route(meshE4.String(), g.Addr4.String()); err != nil {
			return nil, err
		}
		if err := h.Node.Route(meshE6.String(), g.Addr6.String()); err != nil {
			return nil, err
		}
	}
	if err := en.Route("0.0.0.0/0", nth(meshE4, 1).String()); err != nil {
		return nil, err
	}
	if err := en.Route("::/0", nth(meshE6, 1).String()); err != nil {
		return nil, err
	}

	m.DNS = NewDNSServer(opts.NegTTL)
	if m.DNSAt, err = m.DNS.Start(m.Hosts["dns"].Node, m.Hosts["dns"].Addr4); err != nil {
		return nil, err
	}
	for _, name := range opts.Keyed {
		h := m.Hosts[name]
		if h.Key, err = dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0); err != nil {
			return nil, err
		}
		if err := m.Publish(name, h.Addr4, h.Addr4, h.Key.Public()); err != nil {
			return nil, err
		}
		if err := m.Publish(name, h.Addr6, h.Addr6, h.Key.Public()); err != nil {
			return nil, err
		}
	}
	if g.Key != nil {
		// e's records name g as its gateway, with g's key (RFC 4322).
		if err := m.Publish("e", e.Addr4, g.Addr4, g.Key.Public()); err != nil {
			return nil, err
		}
		if err := m.Publish("e", e.Addr6, g.Addr6, g.Key.Public()); err != nil {
			return nil, err
		}
	}
	for name, h := range m.Hosts {
		h.Dir = filepath.Join(opts.WorkDir, name)
		h.Socket = filepath.Join(h.Dir, "oemeshd.sock")
		if err := os.MkdirAll(filepath.Join(h.Dir, "policies"), 0o755); err != nil {
			return nil, err
		}
		if h.Key != nil {
			if err := dnskey.WriteHostKey(filepath.Join(h.Dir, "hostkey.pem"), h.Key, true); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Publish adds an IPSECKEY record for addr (at its reverse name) naming
// gateway gw with key pub.
func (m *Mesh) Publish(_ string, addr, gw netip.Addr, pub crypto.PublicKey) error {
	name, err := dns.ReverseAddr(addr.String())
	if err != nil {
		return err
	}
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 60, Precedence: 10,
		Gateway: dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: gw}, PublicKey: pub})
	if err != nil {
		return err
	}
	m.DNS.Add(rr)
	return nil
}

// SetSigned marks the records at the reverse names of a host's addresses
// as DNSSEC-validated (true) or as from an unsigned zone (false, the
// default): see DNSServer.SetSecure.
func (m *Mesh) SetSigned(name string, signed bool) error {
	h := m.Hosts[name]
	for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
		rev, err := dns.ReverseAddr(a.String())
		if err != nil {
			return err
		}
		m.DNS.SetSecure(rev, signed)
	}
	return nil
}

// HostConfig is what StartDaemon writes for one host.
type HostConfig struct {
	// Policies maps group file names to their contents.
	Policies map[string]string
	// Extra is appended to the generated oemesh.yaml (e.g. an oe: section).
	Extra string
	// RequireDNSSEC sets dns.require_dnssec (off by default in the lab,
	// whose names are unsigned unless marked with SetSigned).
	RequireDNSSEC bool
	// DNSTimeout sets dns.timeout (default 1s): longer keeps a negotiation
	// waiting on a slow resolver (DNSFault.Delay) instead of failing.
	DNSTimeout time.Duration
	// NoDNSExemption sets dns.exempt_servers: false, so that the daemon's
	// resolver is subject to the policy like any host (the DNS deadlock).
	NoDNSExemption bool
	// StubListen sets dns.stub.listen (default off): the DNS stub, in
	// front of the lab's DNS server.
	StubListen string
	// DNS is more of the dns: section (e.g. a publish: block), one key a
	// line, indented two spaces as the section's own keys are, each line
	// ending in a newline.
	DNS string
	// Oemeshd, when set, is the daemon binary to run instead of the
	// mesh's (a benchmark comparing two builds).
	Oemeshd string
}

// DefaultKeyExchanges is how two oemeshd on their default configuration
// key an IKE SA, written as `oemesh traffic` writes a tunnel's key
// exchanges (control.TunnelStatus.KeyExchanges): X25519 in IKE_SA_INIT,
// then ML-KEM-768 in IKE_INTERMEDIATE, since ike.pq's default is prefer.
// The lab checks every encrypted flow against it.
const DefaultKeyExchanges = "x25519+mlkem768"

// WritePolicies replaces the host's policy files.
func (m *Mesh) WritePolicies(name string, policies map[string]string) error {
	h := m.Hosts[name]
	dir := filepath.Join(h.Dir, "policies")
	for _, g := range []string{"clear", "clear-or-private", "private-or-clear", "private", "block"} {
		os.Remove(filepath.Join(dir, g))
	}
	for g, body := range policies {
		if err := os.WriteFile(filepath.Join(dir, g), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// StartDaemon writes the host's configuration and starts oemeshd in its
// namespace, waiting until its control socket answers.
func (m *Mesh) StartDaemon(ctx context.Context, name string, hc HostConfig) error {
	h := m.Hosts[name]
	if err := m.WritePolicies(name, hc.Policies); err != nil {
		return err
	}
	dnsTimeout := hc.DNSTimeout
	if dnsTimeout == 0 {
		dnsTimeout = time.Second
	}
	stubListen := hc.StubListen
	if stubListen == "" {
		stubListen = "off"
	}
	// No identity: each SA uses its local address as ID, so IPv4 and IPv6
	// peers both find the key at the reverse name of the address they see.
	cfg := fmt.Sprintf(`hostkey: %s
policies: %s
control_socket: %s
dns:
  servers: [%s]
  require_dnssec: %v
  timeout: %s
  exempt_servers: %v
  stub:
    listen: %q
%slog:
  level: debug
%s`, filepath.Join(h.Dir, "hostkey.pem"), filepath.Join(h.Dir, "policies"), h.Socket, m.DNSAt, hc.RequireDNSSEC, dnsTimeout, !hc.NoDNSExemption, stubListen, hc.DNS, hc.Extra)
	cfgPath := filepath.Join(h.Dir, "oemesh.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(h.Dir, "oemeshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	bin := m.opts.Oemeshd
	if hc.Oemeshd != "" {
		bin = hc.Oemeshd
	}
	cmd := exec.Command("ip", "netns", "exec", h.Node.NSName, bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// oemeshd reads OEMESH_* variables as configuration and refuses unknown
	// ones: it must not see a test's own (OEMESH_IN_VM in the VM).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OEMESH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start oemeshd on %s: %w", name, err)
	}
	h.daemon, h.daemonDone = cmd, make(chan error, 1)
	go func() { h.daemonDone <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-h.daemonDone:
			h.daemonDone <- err
			return fmt.Errorf("oemeshd on %s exited: %v; log:\n%s", name, err, m.Log(name))
		default:
		}
		if _, err := os.Stat(h.Socket); err == nil {
			out, err := m.CLI(ctx, name, "status")
			if err == nil {
				_ = out
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("oemeshd on %s did not come up; log:\n%s", name, m.Log(name))
}

// Signal sends sig to a host's daemon.
func (m *Mesh) Signal(name string, sig syscall.Signal) error {
	h := m.Hosts[name]
	if h.daemon == nil || h.daemon.Process == nil {
		return fmt.Errorf("no daemon on %s", name)
	}
	return h.daemon.Process.Signal(sig)
}

// StopDaemon sends sig and waits for the daemon to exit.
func (m *Mesh) StopDaemon(name string, sig syscall.Signal) error {
	h := m.Hosts[name]
	if h.daemon == nil {
		return nil
	}
	h.daemon.Process.Signal(sig)
	select {
	case <-h.daemonDone:
	case <-time.After(10 * time.Second):
		h.daemon.Process.Kill()
		<-h.daemonDone
	}
	h.daemon = nil
	return nil
}

// Log returns a host's daemon log.
func (m *Mesh) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.Hosts[name].Dir, "oemeshd.log"))
	return string(b)
}

// CLI runs `oemesh` against a host's daemon; the oemesh binary sits beside
// oemeshd.
func (m *Mesh) CLI(ctx context.Context, name string, args ...string) (string, error) {
	bin := filepath.Join(filepath.Dir(m.opts.Oemeshd), "oemesh")
	cmd := exec.CommandContext(ctx, bin, append([]string{"--socket", m.Hosts[name].Socket}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// PingResult is what one ping run saw.
type PingResult struct {
	Sent, Received int
	First          bool // the first echo was answered
	Output         string
}

// Ping sends count echo requests from host to dst, interval apart.
func (m *Mesh) Ping(ctx context.Context, from string, dst netip.Addr, count int, interval time.Duration) PingResult {
	args := []string{"-n", "-c", fmt.Sprint(count), "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", dst.String()}
	out, _ := m.Hosts[from].Node.Command(ctx, "ping", args...).CombinedOutput()
	r := PingResult{Sent: count, Output: string(out)}
	for _, line := range strings.Split(r.Output, "\n") {
		if strings.Contains(line, "bytes from") {
			r.Received++
			if strings.Contains(line, "icmp_seq=1 ") {
				r.First = true
			}
		}
	}
	return r
}

// Close stops every daemon and removes the namespaces.
func (m *Mesh) Close() error {
	var errs []error
	for name := range m.Hosts {
		m.StopDaemon(name, syscall.SIGTERM)
	}
	if m.DNS != nil {
		m.DNS.Close()
	}
	if err := m.Lab.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func nth(p netip.Prefix, i int) netip.Addr {
	b := p.Addr().AsSlice()
	b[len(b)-1] += byte(i)
	a, _ := netip.AddrFromSlice(b)
	return a
}

func pfx(a netip.Addr, bits int) string { return netip.PrefixFrom(a, bits).String() }

// GiveKey makes a key for a host that had none, writes it to its directory
// and publishes it.
func (m *Mesh) GiveKey(name string) error {
	h := m.Hosts[name]
	k, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		return err
	}
	h.Key = k
	if err := dnskey.WriteHostKey(filepath.Join(h.Dir, "hostkey.pem"), k, true); err != nil {
		return err
	}
	if err := m.Publish(name, h.Addr4, h.Addr4, k.Public()); err != nil {
		return err
	}
	return m.Publish(name, h.Addr6, h.Addr6, k.Public())
}

// ReplaceKeyInDNS publishes a fresh key for a host in place of its real one
// (a forgery, or a stale record): its signatures no longer verify.
func (m *Mesh) ReplaceKeyInDNS(name string) error {
	h := m.Hosts[name]
	k, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		return err
	}
	for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
		rev, err := dns.ReverseAddr(a.String())
		if err != nil {
			return err
		}
		m.DNS.Remove(rev)
		if err := m.Publish(name, a, a, k.Public()); err != nil {
			return err
		}
	}
	return nil
}
