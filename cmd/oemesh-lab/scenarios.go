package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// The hosts' policies. a initiates to the whole lab, with the exceptions
// that show each group; b and g only respond; c responds to all and
// initiates to b only (so its replies to a stay clear), and b refuses c.
const (
	lan      = "198.18.0.0/16\n2001:db8::/32\n"
	clearDNS = "198.18.0.53\n2001:db8:1::53\n"
	// a's /32s and /128s inside its private-or-clear /16 and /32: the most
	// specific prefix wins.
	aClear   = clearDNS + "198.18.0.3\n" // c over IPv4: clear
	aBlock   = "2001:db8:1::3\n"         // c over IPv6: block
	aPrivate = "2001:db8:1::4\n"         // d over IPv6: private (d has no key)
	labOE    = "oe:\n  null_auth: \"off\"\n  shunt_lifetime: 3s\n"
)

var (
	aConfig = lab.HostConfig{Policies: map[string]string{
		"private-or-clear": lan, "clear": aClear, "block": aBlock, "private": aPrivate}, Extra: labOE}
	bConfig = lab.HostConfig{Policies: map[string]string{
		"clear-or-private": lan, "clear": clearDNS + "198.18.0.3\n"}, Extra: labOE}
	cConfig = lab.HostConfig{Policies: map[string]string{
		"clear-or-private": lan, "private-or-clear": "198.18.0.2\n", "clear": clearDNS}, Extra: labOE}
	gConfig = lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS},
		Extra: labOE + "  gateway_for: [198.18.1.0/24, \"2001:db8:2::/64\"]\n"}
	dConfig = lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS}, Extra: labOE}
)

// labRun is one run of the lab: the mesh, its capture and what it found.
type labRun struct {
	prefix, workDir, oemeshd string
	log                      io.Writer
	mesh                     *lab.Mesh
	capture                  *lab.Capture

	// keyExchanges is what every encrypted flow's IKE SA must show in its
	// initiator's `oemesh traffic` (lab.DefaultKeyExchanges by default).
	keyExchanges string
}

func (l *labRun) build(ctx context.Context) error {
	m, err := lab.NewMesh(lab.MeshOptions{Prefix: l.prefix, WorkDir: l.workDir, Oemeshd: l.oemeshd, NegTTL: 2})
	if err != nil {
		return fmt.Errorf("building the mesh: %w", err)
	}
	l.mesh = m
	for _, h := range []struct {
		name string
		cfg  lab.HostConfig
	}{{"b", bConfig}, {"g", gConfig}, {"c", cConfig}, {"a", aConfig}} {
		if err := m.StartDaemon(ctx, h.name, h.cfg); err != nil {
			return err
		}
	}
	if l.capture, err = lab.StartCapture(m.Sw); err != nil {
		return err
	}
	return nil
}

func (l *labRun) close() {
	if l.capture != nil {
		l.capture.Stop()
	}
	if l.mesh != nil {
		l.mesh.Close()
	}
}

// flow is one row of the table: count echo requests from one host to
// another, over IPv4 or IPv6.
type flow struct {
	from, to string
	v6       bool
	via      string // the gateway whose LAN segment carries the ESP
	expect   string // encrypted, clear or dropped
	note     string
	count    int
	// before runs first, e.g. to publish a key or restart a daemon; its
	// text says what it did.
	before func(ctx context.Context, l *labRun) (string, error)
	// snapshot: after this flow, keep a's `oemesh traffic` and `shunts`.
	snapshot bool
}

// FlowResult is one row of the table.
type FlowResult struct {
	Flow     string `json:"flow"`
	From     string `json:"from"`
	To       string `json:"to"`
	Family   string `json:"family"`
	Group    string `json:"group"`  // the initiator's group for the destination, from its daemon
	Expect   string `json:"expect"` // encrypted, clear or dropped
	Outcome  string `json:"outcome"`
	OK       bool   `json:"ok"`
	Note     string `json:"note,omitempty"`
	Step     string `json:"step,omitempty"` // what was done before the flow
	Sent     int    `json:"sent"`
	Received int    `json:"received"`
	Lost     int    `json:"lost"`
	// FirstMS is the round-trip time of the first echo: the time to the
	// first encrypted packet (negotiation included) or to the clear
	// fallback (DNS included). Absent when it went unanswered.
	FirstMS *float64 `json:"first_ms,omitempty"`
	ESP     int      `json:"esp_packets"`   // ESP between the endpoints (or the initiator and the gateway)
	Clear   int      `json:"clear_packets"` // cleartext ICMP/TCP/UDP between the endpoints
	IKE     int      `json:"ike_packets"`

	// KeyExchanges is how the IKE SA of an encrypted flow was keyed, as
	// the initiator's daemon shows it (`oemesh traffic`), e.g.
	// "x25519+mlkem768"; ExpectKeyExchanges what it must be.
	KeyExchanges       string `json:"key_exchanges,omitempty"`
	ExpectKeyExchanges string `json:"expect_key_exchanges,omitempty"`
}

// Results is what `oemesh-lab run` reports.
type Results struct {
	Flows   []FlowResult `json:"flows"`
	Seconds float64      `json:"seconds"`
	// Traffic and Shunts are `oemesh traffic` and `oemesh shunts` on a
	// after the flow marked snapshot, as its operator would see them.
	SnapshotAfter int    `json:"snapshot_after_flow"`
	Traffic       string `json:"traffic_a"`
	Shunts        string `json:"shunts_a"`
}

func (l *labRun) flows() []flow {
	return []flow{
		{from: "a", to: "d", expect: "clear", count: 3, note: "d publishes no key: clear after one DNS answer"},
		{from: "a", to: "b", expect: "encrypted", count: 5, note: "b responds (clear-or-private)"},
		{from: "a", to: "b", v6: true, expect: "encrypted", count: 5, note: "b responds (clear-or-private)"},
		{from: "a", to: "e", via: "g", expect: "encrypted", count: 5, note: "tunnel to gateway g (e's IPSECKEY names g)"},
		{from: "a", to: "e", v6: true, via: "g", expect: "encrypted", count: 5, note: "tunnel to gateway g"},
		{from: "a", to: "c", expect: "clear", count: 3, note: "c's /32 in a's clear group beats the /16"},
		{from: "a", to: "c", v6: true, expect: "dropped", count: 3, note: "c's /128 in a's block group"},
		{from: "a", to: "d", v6: true, expect: "dropped", count: 3, note: "private and no key: nothing leaves in clear"},
		{from: "c", to: "b", expect: "clear", count: 3, note: "b has c in its clear group: refused, c's failure shunt passes"},
		{from: "a", to: "d", v6: true, expect: "encrypted", count: 5, note: "private again, after d published a key", before: publishD, snapshot: true},
		{from: "a", to: "b", expect: "encrypted", count: 5, note: "renegotiated after a's daemon was SIGKILLed and restarted", before: killA},
		{from: "a", to: "b", expect: "dropped", count: 3, note: "SIGHUP reload moved b to a's block group", before: reloadA},
	}
}

// scenarios runs every flow in order and collects the rows.
func (l *labRun) scenarios(ctx context.Context) (*Results, error) {
	start := time.Now()
	res := &Results{}
	for _, f := range l.flows() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := l.runFlow(ctx, f)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(l.log, "  %-8s %s %-9s %-15s %s\n", r.Flow, r.Family, r.Outcome, orDash(r.KeyExchanges), checkText(r))
		res.Flows = append(res.Flows, r)
		if f.snapshot {
			res.SnapshotAfter = len(res.Flows)
			res.Traffic, _ = l.mesh.CLI(ctx, "a", "traffic")
			res.Shunts, _ = l.mesh.CLI(ctx, "a", "shunts")
		}
	}
	res.Seconds = time.Since(start).Round(10 * time.Millisecond).Seconds()
	return res, nil
}

func (l *labRun) addr(host string, v6 bool) netip.Addr {
	h := l.mesh.Hosts[host]
	if v6 {
		return h.Addr6
	}
	return h.Addr4
}

func (l *labRun) runFlow(ctx context.Context, f flow) (FlowResult, error) {
	src, dst := l.addr(f.from, f.v6), l.addr(f.to, f.v6)
	r := FlowResult{Flow: fmt.Sprintf("%s → %s", f.from, f.to), From: src.String(), To: dst.String(),
		Family: "IPv4", Expect: f.expect, Note: f.note}
	if f.v6 {
		r.Family = "IPv6"
	}
	if f.before != nil {
		step, err := f.before(ctx, l)
		if err != nil {
			return r, fmt.Errorf("%s: %w", r.Flow, err)
		}
		r.Step = step
		fmt.Fprintf(l.log, "  (%s)\n", step)
	}
	r.Group = l.group(ctx, f.from, dst)
	l.capture.Reset()
	p := l.mesh.Ping(ctx, f.from, dst, f.count, 200*time.Millisecond)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	time.Sleep(150 * time.Millisecond) // the last replies cross the switch
	counts := l.capture.Settled()
	r.Sent, r.Received, r.Lost = p.Sent, p.Received, p.Sent-p.Received
	if rtt, ok := firstRTT(p.Output); ok {
		ms := float64(rtt.Microseconds()) / 1000
		r.FirstMS = &ms
	}
	espPeer := dst
	if f.via != "" {
		espPeer = l.addr(f.via, f.v6)
	}
	r.ESP = counts.Between(src, espPeer, lab.KindESP)
	r.IKE = counts.Between(src, espPeer, lab.KindIKE)
	for _, k := range []lab.Kind{lab.KindICMP, lab.KindClearTCP, lab.KindClearUDP} {
		r.Clear += counts.Between(src, dst, k)
	}
	r.Outcome = outcome(r)
	if r.Outcome == "encrypted" {
		r.KeyExchanges = l.tunnelKeyExchanges(ctx, f.from, espPeer, dst)
	}
	if r.Expect == "encrypted" {
		r.ExpectKeyExchanges = l.keyExchanges
	}
	r.OK = flowOK(r)
	return r, nil
}

// flowOK says whether a flow went as expected: its outcome, and for an
// encrypted flow every echo answered, the first timed, and its IKE SA
// keyed as expected.
func flowOK(r FlowResult) bool {
	return r.Outcome == r.Expect && (r.Expect != "encrypted" || (r.Lost == 0 && r.FirstMS != nil && r.KeyExchanges == r.ExpectKeyExchanges))
}

// outcome says what the wire and the pings showed.
func outcome(r FlowResult) string {
	switch {
	case r.Received > 0 && r.ESP > 0 && r.Clear == 0:
		return "encrypted"
	case r.Received > 0 && r.Clear > 0 && r.ESP == 0:
		return "clear"
	case r.Received == 0 && r.Clear == 0:
		return "dropped"
	case r.Received == 0:
		return "lost" // packets left in the clear but nothing came back
	case r.ESP == 0 && r.Clear == 0:
		return "unseen" // answered, but not across the switch
	}
	return "mixed" // ESP and cleartext both
}

var rttRE = regexp.MustCompile(`icmp_seq=1 .*time=([0-9.]+) ms`)

// firstRTT is the round-trip time of the first echo, from ping's output.
func firstRTT(out string) (time.Duration, bool) {
	m := rttRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// group asks the initiator's daemon which group applies to dst.
func (l *labRun) group(ctx context.Context, host string, dst netip.Addr) string {
	out, err := l.mesh.CLI(ctx, host, "policy", "explain", "--json", dst.String())
	if err != nil {
		return "?"
	}
	var ex control.Explanation
	if json.Unmarshal([]byte(out), &ex) != nil || ex.Group == "" {
		return "?"
	}
	return string(ex.Group)
}

// publishD gives d a key in DNS and a daemon, then waits until a has
// forgotten its drop shunt and its negative DNS answer for d, so the next
// packet starts a fresh negotiation.
func publishD(ctx context.Context, l *labRun) (string, error) {
	m := l.mesh
	if err := m.GiveKey("d"); err != nil {
		return "", err
	}
	if err := m.StartDaemon(ctx, "d", dConfig); err != nil {
		return "", err
	}
	// The resolver keeps negative answers at least 10 s (its minimum
	// TTL), longer than the 3 s drop shunt: wait for both to go.
	d6 := m.Hosts["d"].Addr6
	rev, err := dns.ReverseAddr(d6.String())
	if err != nil {
		return "", err
	}
	client := control.NewClient(m.Hosts["a"].Socket)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var shunts []control.ShuntStatus
		err1 := client.Do(ctx, "GET", "/v1/shunts", nil, &shunts)
		shunted := false
		for _, s := range shunts {
			shunted = shunted || s.Src == d6.String() || s.Dst == d6.String()
		}
		var peers []control.DNSCacheEntry
		err2 := client.Do(ctx, "GET", "/v1/dns/cache", nil, &peers)
		cached := false
		for _, p := range peers {
			cached = cached || strings.EqualFold(p.Name, rev)
		}
		if err1 == nil && err2 == nil && !shunted && !cached {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("a still holds a shunt or a DNS answer for %s after 30 s (%v, %v): shunts %+v", d6, err1, err2, shunts)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // the shunt's removal reaches the data plane
	return "d published a key and started oemeshd; a's drop shunt and negative DNS answer expired", nil
}

// killA SIGKILLs a's daemon and starts it again on the same configuration.
func killA(ctx context.Context, l *labRun) (string, error) {
	if err := l.mesh.StopDaemon("a", syscall.SIGKILL); err != nil {
		return "", err
	}
	if err := l.mesh.StartDaemon(ctx, "a", aConfig); err != nil {
		return "", err
	}
	return "a's oemeshd SIGKILLed and restarted", nil
}

// reloadA moves b into a's block group and sends SIGHUP, waiting until the
// daemon explains b as block.
func reloadA(ctx context.Context, l *labRun) (string, error) {
	m := l.mesh
	pol := map[string]string{}
	for k, v := range aConfig.Policies {
		pol[k] = v
	}
	pol["block"] += "198.18.0.2\n"
	if err := m.WritePolicies("a", pol); err != nil {
		return "", err
	}
	if err := m.Signal("a", syscall.SIGHUP); err != nil {
		return "", err
	}
	b4 := m.Hosts["b"].Addr4
	deadline := time.Now().Add(10 * time.Second)
	for l.group(ctx, "a", b4) != "block" {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("a did not reload its policy on SIGHUP")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "198.18.0.2 added to a's block file; SIGHUP", nil
}
