package peers

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// katOutEnv names the directory TestCaptureStrongSwan6Hybrid writes its
// captures to. The test is a generator, not a check: it runs only when the
// variable is set, e.g.
//
//	OEMESH_KAT_OUT=$PWD/ike/testdata/kat go test -count=1 ./internal/peers/ -run TestCaptureStrongSwan6Hybrid -v
//
// ike/testdata/kat/README.md says what it writes and what reads it.
const katOutEnv = "OEMESH_KAT_OUT"

// katCapture is one handshake the generator records.
type katCapture struct {
	name     string
	proposal string
	psk      string // "": Ed25519 raw keys
	charon   []string
}

var katCaptures = []katCapture{
	// fragment_size above the veth's MTU: ML-KEM-768's IKE_INTERMEDIATE request
	// (about 1,250 octets) goes whole, not in charon's default 1,280-octet fragments.
	{
		name: "strongswan6-x25519-mlkem768-ed25519", proposal: "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
		charon: []string{"fragment_size = 1500"},
	},
	{
		name: "strongswan6-ecp384-mlkem1024-psk-frag", proposal: "aes256gcm16-prfsha384-ecp384-ke1_mlkem1024",
		psk: "oemesh-kat-psk-0123456789", charon: []string{"fragment_size = 500"},
	},
}

// katKey is a fixed Ed25519 key, so that a regenerated capture is signed by
// the same keys as the committed one: the seed is SHA-256 of a label.
func katKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("oemesh known-answer capture " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestCaptureStrongSwan6Hybrid runs two charon 6.1 peers through a hybrid
// handshake (RFC 9370 ADDKE1 in IKE_INTERMEDIATE, RFC 9242) and writes, for
// each case of katCaptures, the pcap of the exchange (tcpdump on A's veth)
// and both charons' logs at level 4, where keymat_v2 logs the shared
// secrets, SKEYSEED and every SK_* key of each stage. ike's known-answer
// test (ike/kat_strongswan6_test.go) recomputes all of it with our code.
func TestCaptureStrongSwan6Hybrid(t *testing.T) {
	out := os.Getenv(katOutEnv)
	if out == "" {
		t.Skipf("a generator: set %s to the directory to write the captures to", katOutEnv)
	}
	in := RequireStrongSwan6(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("no tcpdump")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kc := range katCaptures {
		t.Run(kc.name, func(t *testing.T) {
			captureHybrid(t, in, out, kc)
		})
	}
}

func captureHybrid(t *testing.T, in *Install, out string, kc katCapture) {
	net := netnstest.NewPair(t, "kat")
	addrA, addrB := net.A4.String(), net.B4.String()
	edA, edB := katKey("initiator"), katKey("responder")
	mk := func(local, remote string, initiator bool) StrongSwanConn {
		me, peer := edA, edB
		if !initiator {
			me, peer = edB, edA
		}
		c := StrongSwanConn{
			Name: "kat", LocalAddrs: []string{local}, RemoteAddrs: []string{remote},
			Proposals: []string{kc.proposal},
			Local:     StrongSwanAuth{Method: AuthPubkey, ID: local, Key: me},
			Remote:    StrongSwanAuth{Method: AuthPubkey, ID: remote, PublicKey: peer.Public()},
			Children:  []StrongSwanChild{{Name: "c", ESPProposals: []string{"aes256gcm16"}}},
			NoMobike:  true,
		}
		if kc.psk != "" {
			c.Local = StrongSwanAuth{Method: AuthPSK, ID: local}
			c.Remote = StrongSwanAuth{Method: AuthPSK, ID: remote}
			c.PSK = kc.psk
		}
		return c
	}
	cfg := func(c StrongSwanConn) StrongSwanConfig {
		return StrongSwanConfig{Version: StrongSwan6, LogLevel: 4, Conns: []StrongSwanConn{c}, Charon: kc.charon}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pcapPath := filepath.Join(out, kc.name+".pcap")
	dump := net.A.Command(ctx, "tcpdump", "-Z", "root", "-i", net.ADev, "--immediate-mode", "-U", "-n", "-s", "0", "-w", pcapPath, "udp")
	stderr, err := dump.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dump.Process.Signal(os.Interrupt)
		dump.Wait()
	})
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for started := false; sc.Scan(); {
			if !started && strings.Contains(sc.Text(), "listening on") {
				started = true
				close(listening)
			}
		}
	}()
	select {
	case <-listening:
	case <-ctx.Done():
		t.Fatal("tcpdump did not start")
	}

	a := StartStrongSwan(t, in, net.A.Name, cfg(mk(addrA, addrB, true)))
	b := StartStrongSwan(t, in, net.B.Name, cfg(mk(addrB, addrA, false)))
	if lines, err := a.Initiate(ctx, "kat", "c"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, strings.Join(lines, "\n"))
	}
	sa, err := a.WaitEstablished(ctx, "kat", "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEstablished(ctx, "kat", "c"); err != nil {
		t.Fatal(err)
	}
	if len(sa.AdditionalKE) != 1 {
		t.Fatalf("IKE SA additional key exchanges %q, want one", sa.AdditionalKE)
	}
	// Both sides are established, so the IKE_AUTH response has reached A's
	// veth; give tcpdump a moment to write it, then stop it.
	time.Sleep(300 * time.Millisecond)
	dump.Process.Signal(os.Interrupt)
	dump.Wait()
	var vectors strings.Builder
	fmt.Fprintf(&vectors, "# %s: %s, charon 6.1 to charon 6.1, written by internal/peers TestCaptureStrongSwan6Hybrid.\n", kc.name, kc.proposal)
	fmt.Fprintf(&vectors, "# role<TAB>label<TAB>hex: the keys and octets each charon logged at level 4, in log order; see README.md.\n")
	if kc.psk != "" {
		fmt.Fprintf(&vectors, "both\tpsk\t%x\n", kc.psk)
	} else {
		fmt.Fprintf(&vectors, "initiator\ted25519 public key\t%x\n", edA.Public())
		fmt.Fprintf(&vectors, "responder\ted25519 public key\t%x\n", edB.Public())
	}
	for _, role := range []string{"initiator", "responder"} {
		s := map[string]*StrongSwan{"initiator": a, "responder": b}[role]
		if err := s.Stop(); err != nil {
			t.Logf("stop %s: %v", role, err)
		}
		log, err := os.ReadFile(s.Log.Path())
		if err != nil {
			t.Fatal(err)
		}
		entries, err := charonKeyLog(string(log))
		if err != nil {
			t.Fatalf("%s's log: %v", role, err)
		}
		for _, e := range entries {
			fmt.Fprintf(&vectors, "%s\t%s\t%x\n", role, e.label, e.data)
		}
	}
	if err := os.WriteFile(filepath.Join(out, kc.name+".keys"), []byte(vectors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s.pcap and %s.keys in %s", kc.name, kc.name, out)
}

// charonKeyLabels are the level-4 dumps of charon 6.1 the known-answer test
// uses: keymat_v2's shared secrets, nonces, SKEYSEED and SK_* of each key
// derivation, the IntAuth chain's inputs and outputs (RFC 9242 §3.3.2), and
// the signed octets of each AUTH.
var charonKeyLabels = map[string]bool{
	"key exchange secret":          true,
	"nonces":                       true,
	"SKEYSEED":                     true,
	"Sk_d secret":                  true,
	"Sk_ai secret":                 true,
	"Sk_ar secret":                 true,
	"Sk_ei secret":                 true,
	"Sk_er secret":                 true,
	"Sk_pi secret":                 true,
	"Sk_pr secret":                 true,
	"IntAuth_N-1":                  true,
	"IntAuth_A|P":                  true,
	"IntAuth_N = prf(Sk_px, data)": true,
	"octets = message + nonce + prf(Sk_px, IDx') + IntAuth": true,
}

type charonKeyEntry struct {
	label string
	data  []byte
}

var (
	// 13:33:31.286 11[IKE] <kat|1> SKEYSEED => 48 bytes @ 0x7fc4f8008be0
	charonDumpHead = regexp.MustCompile(`\[IKE\] <[^>]*> (.+) => (\d+) bytes @ `)
	// 13:33:31.286 11[IKE] <kat|1>    0: 5C 75 AF 38 ...  \u.8..
	charonDumpLine = regexp.MustCompile(`\[IKE\] <[^>]*>\s+(\d+): ((?:[0-9A-F]{2} ){0,15}[0-9A-F]{2})`)
)

// charonKeyLog returns the dumps of charonKeyLabels from a charon log, in
// order, each checked against the length its header announces.
func charonKeyLog(log string) ([]charonKeyEntry, error) {
	lines := strings.Split(log, "\n")
	var out []charonKeyEntry
	for i := 0; i < len(lines); i++ {
		m := charonDumpHead.FindStringSubmatch(lines[i])
		if m == nil || !charonKeyLabels[m[1]] {
			continue
		}
		var n int
		fmt.Sscan(m[2], &n)
		e := charonKeyEntry{label: m[1], data: []byte{}}
		for len(e.data) < n && i+1 < len(lines) {
			d := charonDumpLine.FindStringSubmatch(lines[i+1])
			if d == nil {
				break
			}
			i++
			for _, h := range strings.Fields(d[2]) {
				var b byte
				fmt.Sscanf(h, "%02X", &b)
				e.data = append(e.data, b)
			}
		}
		if len(e.data) != n {
			return nil, fmt.Errorf("line %d: %q: %d octets dumped, header says %d", i+1, e.label, len(e.data), n)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no key dumps: is the ike log level 4?")
	}
	return out, nil
}
