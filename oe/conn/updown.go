package conn

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// runUpdown runs the conn's updown script for a step ("route", "unroute",
// "up", "down") with the FreeS/WAN environment: PLUTO_VERB is the step
// with -host (no client subnets: host to host) or -client appended. It
// runs once per pair of local and remote client networks, under a time
// limit; its output is logged, and a failure is logged and shown in `conn
// list` with the exact command, so a broken script (the FAQ's "route
// fails and packets vanish") is visible.
func (c *Conns) runUpdown(cs *connState, step string, t connTunnel) {
	if cs.Updown == "" {
		return
	}
	suffix := "-client"
	if cs.hostToHost() {
		suffix = "-host"
	}
	verb := step + suffix
	locals, remotes := cs.localNets(), cs.remoteNets()
	peer, peerID := cs.Remote, cs.RemoteID
	if t.peer.IsValid() {
		peer, peerID = t.peer, t.peerID
		if len(t.local) > 0 {
			locals = tunnel.Prefixes(t.local)
		}
		if len(t.remote) > 0 {
			remotes = tunnel.Prefixes(t.remote)
		}
	}
	if len(remotes) == 0 && peer.IsValid() {
		remotes = []netip.Prefix{netip.PrefixFrom(peer, peer.BitLen())}
	}
	var results []string
	for _, l := range locals {
		for _, r := range remotes {
			env := c.updownEnv(cs, verb, l, r, peer, peerID, t)
			results = append(results, c.execUpdown(cs, env))
		}
	}
	c.mu.Lock()
	cs.lastUpdown = strings.Join(results, "; ")
	c.mu.Unlock()
}

func (c *Conns) updownEnv(cs *connState, verb string, my, peerNet netip.Prefix, peer netip.Addr, peerID ike.Identity, t connTunnel) []string {
	myID := cs.Local.String()
	pid := "%any"
	switch {
	case peerID.Type != 0:
		pid = identityText(peerID)
	case peer.IsValid():
		pid = peer.String()
	}
	peerAddr := ""
	if peer.IsValid() {
		peerAddr = peer.String()
	}
	proto, myPort, peerPort := "0", "0", "0"
	if len(t.local) > 0 {
		proto = strconv.Itoa(int(t.local[0].IPProtocol))
		if t.local[0].StartPort == t.local[0].EndPort {
			myPort = strconv.Itoa(int(t.local[0].StartPort))
		}
	}
	if len(t.remote) > 0 && t.remote[0].StartPort == t.remote[0].EndPort {
		peerPort = strconv.Itoa(int(t.remote[0].StartPort))
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"PLUTO_VERSION=2.0",
		"PLUTO_VERB=" + verb,
		"PLUTO_CONNECTION=" + cs.Name,
		"PLUTO_STACK=oemesh-" + c.dp.Name(),
		"PLUTO_ME=" + cs.Local.String(),
		"PLUTO_MY_ID=" + myID,
		"PLUTO_MY_CLIENT=" + my.String(),
		"PLUTO_MY_CLIENT_NET=" + my.Addr().String(),
		"PLUTO_MY_CLIENT_MASK=" + prefixMask(my),
		"PLUTO_MY_PORT=" + myPort,
		"PLUTO_MY_PROTOCOL=" + proto,
		"PLUTO_PEER=" + peerAddr,
		"PLUTO_PEER_ID=" + pid,
		"PLUTO_PEER_CLIENT=" + peerNet.String(),
		"PLUTO_PEER_CLIENT_NET=" + peerNet.Addr().String(),
		"PLUTO_PEER_CLIENT_MASK=" + prefixMask(peerNet),
		"PLUTO_PEER_PORT=" + peerPort,
		"PLUTO_PEER_PROTOCOL=" + proto,
		"PLUTO_CONN_POLICY=" + connPolicy(cs),
		"PLUTO_SA_TYPE=ESP",
		"PLUTO_MODE=" + cs.Mode.String(),
	}
	if t.peer.IsValid() {
		env = append(env, "PLUTO_SA_REQID="+strconv.FormatUint(uint64(binaryReqID(t)), 10),
			"PLUTO_IKE_SPI="+fmt.Sprintf("%x", t.ike.SPIi[:]))
	}
	return env
}

// binaryReqID is a stable number for the tunnel (the first inbound SPI
// seen), as scripts use PLUTO_SA_REQID to name things.
func binaryReqID(t connTunnel) uint32 {
	var r uint32
	for _, b := range t.ike.SPIi[:4] {
		r = r<<8 | uint32(b)
	}
	return r
}

func identityText(id ike.Identity) string {
	if a, ok := id.Addr(); ok {
		return a.String()
	}
	if id.Type == ike.IDFQDN {
		return "@" + string(id.Data)
	}
	return id.String()
}

// connPolicy is PLUTO_CONN_POLICY, in Libreswan's words for the policy
// bits. Libreswan has no bit for certificates: a conn with leftcert
// authenticates by signature (authby=rsasig), so its policy says RSASIG,
// as a raw-key conn's does, and scripts that test for RSASIG treat both
// alike.
func connPolicy(cs *connState) string {
	var p []string
	switch cs.Auth {
	case ike.AuthKindPSK:
		p = append(p, "PSK")
	case ike.AuthKindPubkey, ike.AuthKindCert:
		p = append(p, "RSASIG")
	case ike.AuthKindNull:
		p = append(p, "AUTHNULL")
	}
	p = append(p, "ENCRYPT")
	if cs.Mode == ike.ModeTunnel {
		p = append(p, "TUNNEL")
	}
	p = append(p, "IKEV2_ALLOW")
	return strings.Join(p, "+")
}

func prefixMask(p netip.Prefix) string {
	if p.Addr().Is4() {
		m := uint32(0)
		if p.Bits() > 0 {
			m = ^uint32(0) << (32 - p.Bits())
		}
		return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
	}
	return strconv.Itoa(p.Bits())
}

// execUpdown runs the script once and describes the outcome.
func (c *Conns) execUpdown(cs *connState, env []string) string {
	// Its own bound, not the conns' lifetime: the down scripts of the
	// tunnels that go as the daemon stops run after Close.
	ctx, cancel := context.WithTimeout(context.Background(), cs.UpdownTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cs.Updown)
	cmd.Env = env
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	verb := strings.TrimPrefix(env[2], "PLUTO_VERB=")
	output := strings.TrimSpace(out.String())
	if len(output) > 4096 {
		output = output[:4096] + "…"
	}
	if err == nil {
		c.log.Info("updown ran", "conn", cs.Name, "verb", verb, "took", time.Since(start).Round(time.Millisecond), "output", output)
		return verb + ": ok"
	}
	why := err.Error()
	if ctx.Err() != nil {
		why = fmt.Sprintf("killed after its time limit of %s", cs.UpdownTimeout)
	}
	command := shellCommand(env[1:], cs.Updown)
	c.log.Error("updown failed", "conn", cs.Name, "verb", verb, "command", command, "err", why, "output", output)
	return fmt.Sprintf("%s: FAILED (%s): %s; output: %q", verb, why, command, output)
}

// shellCommand writes the run as a shell command line an operator can
// paste to reproduce it.
func shellCommand(env []string, path string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString(k + "=" + shellQuote(v) + " ")
	}
	b.WriteString(shellQuote(path))
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+-_./:=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
