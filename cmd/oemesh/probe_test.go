package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/logtest"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ike.Identity
	}{
		{"", ike.Identity{}},
		{"%null", ike.NullIdentity()},
		{"ID_NULL", ike.NullIdentity()},
		{"192.0.2.1", ike.AddrIdentity(netip.MustParseAddr("192.0.2.1"))},
		{"2001:db8::1", ike.AddrIdentity(netip.MustParseAddr("2001:db8::1"))},
		{"@host.example", ike.FQDNIdentity("host.example")},
		{"host.example.", ike.FQDNIdentity("host.example")},
	} {
		got, err := parseIdentity("id", tc.in)
		if err != nil || got.Type != tc.want.Type || string(got.Data) != string(tc.want.Data) {
			t.Errorf("parseIdentity(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"@", "a b", "hôte.example"} {
		if _, err := parseIdentity("peer-id", bad); err == nil || !strings.Contains(err.Error(), "--peer-id") {
			t.Errorf("parseIdentity(%q): %v; want an error naming --peer-id", bad, err)
		}
	}
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestToolFlagsSetup(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubFile := writeFile(t, "peer.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := writeFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	privAsPub := writeFile(t, "wrong.pub", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o644)

	ok := ikeToolFlags{auth: "key", keyFile: keyFile, peerKeyFile: pubFile, peerID: "192.0.2.2",
		ikeProps: "aes128gcm16-prfsha256-x25519", espProps: "aes128gcm16", timeout: 1e9}
	s, err := ok.setup(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.auth != ike.AuthKindPubkey || s.peerAuth != ike.AuthKindPubkey || s.creds.Signer == nil {
		t.Errorf("setup: auth %v/%v signer %v", s.auth, s.peerAuth, s.creds.Signer)
	}
	if len(s.ikePolicy.Encr) != 1 || s.ikePolicy.DH[0] != ike.DHCurve25519 {
		t.Errorf("IKE policy %+v", s.ikePolicy)
	}
	// The resolver vouches for --peer-id only.
	peer := ike.AddrIdentity(netip.MustParseAddr("192.0.2.2"))
	if keys, err := s.keys.PeerKeys(context.Background(), peer, netip.Addr{}); err != nil || len(keys) != 1 {
		t.Errorf("PeerKeys(%v) = %v, %v", peer, keys, err)
	}
	other := ike.AddrIdentity(netip.MustParseAddr("192.0.2.3"))
	if _, err := s.keys.PeerKeys(context.Background(), other, netip.Addr{}); !errors.Is(err, ike.ErrNoKey) {
		t.Errorf("PeerKeys(%v): %v, want ErrNoKey", other, err)
	}

	for _, tc := range []struct {
		mod  func(f *ikeToolFlags)
		want string
	}{
		{func(f *ikeToolFlags) { f.auth = "eap" }, `--auth "eap"`},
		{func(f *ikeToolFlags) { f.peerAuth = "x" }, `--peer-auth "x"`},
		{func(f *ikeToolFlags) { f.auth = "psk" }, "--psk SECRET"},
		{func(f *ikeToolFlags) { f.keyFile = filepath.Join(t.TempDir(), "none") }, "--key"},
		{func(f *ikeToolFlags) { f.peerKeyFile = "" }, "--peer-key FILE"},
		{func(f *ikeToolFlags) { f.peerKeyFile = privAsPub }, `"PRIVATE KEY", want "PUBLIC KEY"`},
		{func(f *ikeToolFlags) { f.ikeProps = "aes128gcm16-prfsha256-x448" }, `--ike: ike: IKE proposal 1`},
		{func(f *ikeToolFlags) { f.espProps = "aes128gcm16-prfsha256" }, `--esp: ike: ESP proposal 1`},
		{func(f *ikeToolFlags) { f.fragThreshold = 20 }, "--frag-threshold 20"},
		{func(f *ikeToolFlags) { f.timeout = 0 }, "--timeout"},
	} {
		f := ok
		tc.mod(&f)
		_, err := f.setup(io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("setup with %+v: %v; want an error containing %q", f, err, tc.want)
		}
	}
}

func TestNullDataplane(t *testing.T) {
	d := newNullDataplane()
	ctx := context.Background()
	seen := map[uint32]bool{}
	for range 100 {
		spi, err := d.AllocSPI(ctx, netip.Addr{}, netip.Addr{})
		if err != nil || spi < 256 || seen[spi] {
			t.Fatalf("AllocSPI = %08x, %v (seen before: %v)", spi, err, seen[spi])
		}
		seen[spi] = true
	}
	if err := d.Install(ctx, ike.ChildSA{SPIIn: 7}); err == nil {
		t.Error("Install of an SPI never allocated succeeded")
	}
	spi, _ := d.AllocSPI(ctx, netip.Addr{}, netip.Addr{})
	if err := d.Install(ctx, ike.ChildSA{SPIIn: spi}); err != nil || d.Installed() != 1 {
		t.Fatalf("Install: %v, installed %d", err, d.Installed())
	}
	if err := d.Delete(ctx, ike.ChildSA{SPIIn: spi}); err != nil || d.Installed() != 0 {
		t.Fatalf("Delete: %v, installed %d", err, d.Installed())
	}
}

func TestRespondPolicy(t *testing.T) {
	p := respondPolicy{peerAuth: ike.AuthKindNull}
	if err := p.AcceptAuth(context.Background(), ike.AuthRequest{Kind: ike.AuthKindNull, PeerID: ike.NullIdentity()}); err != nil {
		t.Error(err)
	}
	if err := p.AcceptAuth(context.Background(), ike.AuthRequest{Kind: ike.AuthKindPSK}); err == nil {
		t.Error("a PSK peer was accepted by a NULL-only responder")
	}
	p = respondPolicy{peerAuth: ike.AuthKindPubkey, peerID: ike.AddrIdentity(netip.MustParseAddr("192.0.2.1"))}
	if err := p.AcceptAuth(context.Background(), ike.AuthRequest{Kind: ike.AuthKindPubkey, PeerID: ike.AddrIdentity(netip.MustParseAddr("192.0.2.9"))}); err == nil {
		t.Error("a peer with another identity than --peer-id was accepted")
	}
	ts := []ike.TrafficSelector{ike.HostSelector(netip.MustParseAddr("192.0.2.1"))}
	d, err := p.Child(context.Background(), ike.ChildRequest{TSi: ts, TSr: ts, Transport: true})
	if err != nil || d.Mode != ike.ModeTransport || len(d.TSi) != 1 {
		t.Errorf("Child = %+v, %v; want the proposed selectors in transport mode", d, err)
	}
}

// probe and respond against each other on loopback, as built binaries:
// text output, --count, NULL auth, kernel-chosen ports on both sides. The
// interop tests (internal/interop) cover real peers.
func TestProbeRespondLoopback(t *testing.T) {
	resp := exec.Command(filepath.Join(builtDir, "oemesh"), "respond", "--listen", "127.0.0.1", "--port", "0", "--natt-port", "0",
		"--count", "1", "--debug")
	var so, se logtest.Buffer
	resp.Stdout, resp.Stderr = &so, &se
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = resp.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			resp.Process.Kill()
			<-exited
		}
	})
	portRe := regexp.MustCompile(`msg=responding ike=\[127\.0\.0\.1:(\d+)\]`)
	var port string
	for deadline := time.Now().Add(10 * time.Second); port == ""; time.Sleep(20 * time.Millisecond) {
		if m := portRe.FindStringSubmatch(se.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("respond did not report its port:\n%s", se.String())
		}
	}
	r := run(t, "oemesh", "probe", "127.0.0.1", "--port", port, "--auth", "null", "--ike", "aes256gcm16-prfsha384-ecp384", "--esp", "chacha20poly1305-esn", "--timeout", "5s")
	if r.code != 0 {
		t.Fatalf("probe: %+v", r)
	}
	for _, want := range []string{
		"probe 127.0.0.1:" + port + " from 127.0.0.1:",
		": ESTABLISHED\n",
		"IKE: AES_GCM_16_256 PRF_HMAC_SHA2_384 ECP_384",
		"key exchanges: ecp384 (classical)",
		"peer ID_NULL authenticated with NULL_AUTH: verified",
		"CHILD SA: tunnel",
		"CHACHA20_POLY1305  esn=true",
		"127.0.0.1-127.0.0.1 proto 0 ports 0-65535 === 127.0.0.1-127.0.0.1",
		"IKE_SA_INIT",
		"IKE_AUTH",
		"deleted the IKE SA",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("probe output lacks %q:\n%s", want, r.stdout)
		}
	}
	// --count 1: respond exits by itself after the first CHILD SA.
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("respond: %v\n%s", waitErr, se.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("respond --count 1 still runs after a CHILD SA came up:\n%s", so.String())
	}
	for _, want := range []string{" ike_up IKE ", "peer ID_NULL (null) AES_GCM_16_256 PRF_HMAC_SHA2_384 ECP_384", " child_up IKE ", "CHILD tunnel SPI in ", "ECP_384 keyed by ecp384"} {
		if !strings.Contains(so.String(), want) {
			t.Errorf("respond output lacks %q:\n%s", want, so.String())
		}
	}

	// Nobody answers on a closed port: exit 3 within the give-up time.
	start := time.Now()
	r = run(t, "oemesh", "probe", "127.0.0.1", "--port", port, "--timeout", "1s", "--json")
	var rep probeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe --json: %v\n%+v", err, r)
	}
	if r.code != probeExitTimeout || rep.Exit != probeExitTimeout || rep.Established || !strings.Contains(r.stderr, rep.Error) {
		t.Errorf("probe to a closed port: exit %d, report %+v; want exit %d with the reason on stderr\n%s", r.code, rep, probeExitTimeout, r.stderr)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("probe took %v with --timeout 1s", d)
	}
}

// TestProbeRespondHybrid: the probe report, text and JSON, and respond's
// events show the key exchanges of a hybrid IKE SA, ML-KEM included, and
// of the new IKE SA after a rekey.
func TestProbeRespondHybrid(t *testing.T) {
	const hybrid = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
	resp := exec.Command(filepath.Join(builtDir, "oemesh"), "respond", "--listen", "127.0.0.1", "--port", "0", "--natt-port", "0",
		"--ike", hybrid, "--json", "--debug")
	var so, se logtest.Buffer
	resp.Stdout, resp.Stderr = &so, &se
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Process.Kill(); resp.Wait() })
	portRe := regexp.MustCompile(`msg=responding ike=\[127\.0\.0\.1:(\d+)\]`)
	var port string
	for deadline := time.Now().Add(10 * time.Second); port == ""; time.Sleep(20 * time.Millisecond) {
		if m := portRe.FindStringSubmatch(se.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("respond did not report its port:\n%s", se.String())
		}
	}
	probe := []string{"probe", "127.0.0.1", "--port", port, "--auth", "null", "--ike", hybrid, "--timeout", "5s"}
	r := run(t, "oemesh", probe...)
	if r.code != 0 || !strings.Contains(r.stdout, "key exchanges: x25519+mlkem768 (quantum-resistant)\n") {
		t.Errorf("probe: no \"key exchanges: x25519+mlkem768 (quantum-resistant)\" line: %+v", r)
	}
	r = run(t, "oemesh", append(probe, "--json", "--rekey")...)
	var rep probeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("probe --json --rekey: %v\n%+v", err, r)
	}
	if rep.KeyExchanges != "x25519+mlkem768" || !rep.QuantumResistant {
		t.Errorf("probe --json: key exchanges %q, quantum-resistant %v; want x25519+mlkem768, true", rep.KeyExchanges, rep.QuantumResistant)
	}
	// Whether the rekey runs ML-KEM again depends on IKE_FOLLOWUP_KE; it
	// runs X25519 in any case.
	var newIKE *ikeSAJSON
	for _, rk := range rep.Rekeys {
		if rk.What == "ike" {
			newIKE = rk.IKE
		}
	}
	if newIKE == nil || !strings.HasPrefix(newIKE.KeyExchanges, "x25519") {
		t.Errorf("probe --json --rekey: the new IKE SA %+v; want its key exchanges, x25519 first", newIKE)
	}
	// respond prints its events as the engine reports them, which may be
	// a moment after the probe has its answer.
	var ups []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ups = nil
		for _, line := range strings.Split(strings.TrimSpace(so.String()), "\n") {
			var ev respondEvent
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "ike_up" {
				ups = append(ups, line)
				if ev.IKE == nil || ev.IKE.KeyExchanges != "x25519+mlkem768" {
					t.Fatalf("respond's ike_up: %s; want key_exchanges x25519+mlkem768", line)
				}
			}
		}
		if len(ups) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(ups) != 2 {
		t.Errorf("respond reported %d IKE SAs up, want the two probes':\n%s", len(ups), so.String())
	}
}

// FuzzParseIdentity: --id and --peer-id never panic, and what parses is a
// well-formed identity.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"", "%null", "192.0.2.1", "2001:db8::1", "@host.example", "a b", "::ffff:192.0.2.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseIdentity("id", s)
		if err != nil {
			if !strings.Contains(err.Error(), "--id") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		switch id.Type {
		case 0, ike.IDNull:
		case ike.IDIPv4Addr, ike.IDIPv6Addr:
			if _, ok := id.Addr(); !ok {
				t.Fatalf("%q: address identity %v without an address", s, id)
			}
		case ike.IDFQDN:
			if len(id.Data) == 0 {
				t.Fatalf("%q: empty FQDN identity", s)
			}
		default:
			t.Fatalf("%q: identity type %v", s, id.Type)
		}
	})
}
