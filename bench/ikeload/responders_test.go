package main

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// The responders the scale benchmark compares, by name.
const (
	respOemeshd = "oemeshd"     // the daemon, userspace data plane: CHILD SAs installed
	respRespond = "respond"     // `oemesh respond`: the engine with a data plane that installs nothing
	respSSW5    = "strongswan5" // strongSwan 5.9.8, kernel-libipsec
	respSSW6    = "strongswan6" // strongSwan 6.1 in the sid chroot, kernel-libipsec
)

// The initiators' identities, one per way of authenticating, which the
// responders' configurations name.
const (
	idKey = "@key.load.example"
	idPSK = "@psk.load.example"
	psk   = "ikeload pre-shared key, long enough"
)

// cell is one measurement: a responder and a way of authenticating.
type cell struct {
	resp string
	auth authMethod // ed25519, rsa, psk or null
	kex  kexMode
}

func (c cell) name() string {
	s := string(c.auth)
	if c.kex == kexHybrid {
		s += "+mlkem768"
	}
	return s
}

// supported says whether the responder can run the cell at all:
// strongSwan 5.9.8 has no ML-KEM, and internal/peers configures neither
// strongSwan with NULL authentication (5.9.8 has none).
func (c cell) supported() bool {
	ssw := c.resp == respSSW5 || c.resp == respSSW6
	return !(c.kex == kexHybrid && c.resp == respSSW5) && !(c.auth == authNull && ssw)
}

// keySet is one key pair for each side, from `ikeload keys`.
type keySet struct{ dir string }

func (k keySet) path(f string) string { return filepath.Join(k.dir, f) }

func (k keySet) signer(tb testing.TB, who string) crypto.Signer {
	s, err := dnskey.LoadHostKey(k.path(who + ".key"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// running is a responder up for one cell: its pid, for its CPU time.
type running struct {
	pid  int
	stop func()
	// control is oemeshd's control socket; "" for the others.
	control string
}

// startResponder starts c's responder on node n at addr, configured for
// c, and waits until it listens.
func startResponder(tb testing.TB, c cell, n *lab.Node, addr string, keys keySet, bin string) running {
	tb.Helper()
	dir, err := os.MkdirTemp("", "ikeload-"+c.resp+"-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	switch c.resp {
	case respOemeshd:
		return startOemeshd(tb, c, n, addr, keys, bin, dir)
	case respRespond:
		args := []string{"respond", "--listen", addr}
		switch c.auth {
		case authPSK:
			args = append(args, "--auth", "psk", "--psk", psk)
		case authNull:
			args = append(args, "--auth", "null")
		default:
			args = append(args, "--auth", "key", "--key", keys.path("responder.key"), "--peer-key", keys.path("initiator.pub"))
		}
		p := startProcess(tb, n, filepath.Join(dir, "respond.log"), filepath.Join(bin, "oemesh"), args...)
		p.waitUDP(tb, 500)
		return running{pid: p.pid(), stop: p.stop}
	case respSSW5, respSSW6:
		return startCharon(tb, c, n, addr, keys)
	}
	tb.Fatalf("unknown responder %q", c.resp)
	return running{}
}

func startOemeshd(tb testing.TB, c cell, n *lab.Node, addr string, keys keySet, bin, dir string) running {
	tb.Helper()
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		tb.Fatal(err)
	}
	conn := fmt.Sprintf(`  - name: load
    local: %s
    remote: "%%any"
    unique_ids: false
`, addr)
	switch c.auth {
	case authNull:
		conn += "    auth: \"null\"\n"
	case authPSK:
		secrets := filepath.Join(dir, "ipsec.secrets")
		if err := os.WriteFile(secrets, fmt.Appendf(nil, "%s %s : PSK \"%s\"\n", addr, idPSK, psk), 0o600); err != nil {
			tb.Fatal(err)
		}
		conn += fmt.Sprintf("    remote_id: \"%s\"\n    auth: psk\n    psk: %s\n", idPSK, secrets)
	default:
		conn += fmt.Sprintf("    remote_id: \"%s\"\n    auth: pubkey\n    remote_key: %s\n", idKey, keys.path("initiator.pub"))
	}
	cfg := filepath.Join(dir, "oemesh.yaml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `identity: "%s"
hostkey: %s
policies: %s
control_socket: %s
dataplane: userspace
dns:
  servers: ["127.0.0.1:53"]
  require_dnssec: false
log:
  level: info
conns:
%s`, addr, keys.path("responder.key"), pol, filepath.Join(dir, "oemeshd.sock"), conn), 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	p := startProcess(tb, n, filepath.Join(dir, "oemeshd.log"), filepath.Join(bin, "oemeshd"), "--config", cfg)
	p.waitUDP(tb, 500)
	return running{p.pid(), p.stop, filepath.Join(dir, "oemeshd.sock")}
}

func startCharon(tb testing.TB, c cell, n *lab.Node, addr string, keys keySet) running {
	tb.Helper()
	in := peers.Require(tb)
	ver, ike := peers.StrongSwan5, "aes256gcm16-prfsha256-x25519"
	if c.resp == respSSW6 {
		in = peers.RequireStrongSwan6(tb)
		ver = peers.StrongSwan6
		if c.kex == kexHybrid {
			ike += "-ke1_mlkem768"
		}
	}
	conn := peers.StrongSwanConn{
		Name: "load", LocalAddrs: []string{addr}, Proposals: []string{ike}, NoMobike: true,
		// kernel-libipsec has no ESN.
		Children: []peers.StrongSwanChild{{Name: "host", ESPProposals: []string{"aes256gcm16"}}},
	}
	if c.auth == authPSK {
		conn.Local = peers.StrongSwanAuth{Method: peers.AuthPSK, ID: addr}
		conn.Remote = peers.StrongSwanAuth{Method: peers.AuthPSK, ID: idPSK}
		conn.PSK = psk
	} else {
		pub, err := dnskey.LoadPublicKeyPEM(keys.path("initiator.pub"))
		if err != nil {
			tb.Fatal(err)
		}
		conn.Local = peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: addr, Key: keys.signer(tb, "responder")}
		conn.Remote = peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: idKey, PublicKey: pub}
	}
	s := peers.StartStrongSwan(tb, in, n.NSName, peers.StrongSwanConfig{
		Version: ver, Conns: []peers.StrongSwanConn{conn},
		// Level 1 logs each SA coming up and going down, as the other
		// responders' default logging does, not each exchange's payloads.
		LogLevel: 1,
	})
	pid, err := charonPid(n.NSName)
	if err != nil {
		tb.Fatal(err)
	}
	return running{pid: pid, stop: func() {
		if err := s.Stop(); err != nil {
			tb.Logf("stopping charon: %v", err)
		}
	}}
}

// charonPid finds the charon-systemd process in network namespace ns
// (there is one): the process whose comm is charon-systemd and whose
// network namespace is ns's.
func charonPid(ns string) (int, error) {
	want, err := os.Stat(filepath.Join("/run/netns", ns))
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "charon-systemd" {
			continue
		}
		st, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && sameInode(st, want) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no charon-systemd process in netns %s", ns)
}

func sameInode(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ino == sb.Ino && sa.Dev == sb.Dev
}

// settle waits until the responder's CPU time stops moving (two readings
// 100 ms apart agree), at most a second: the work of the last deletes is
// counted, the idle time after it is not.
func settle(pid int) {
	last, _ := cpuTicks(pid)
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		now, _ := cpuTicks(pid)
		if now == last {
			return
		}
		last = now
	}
}
