package peers

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// mountsUnder returns the host's mount points at or below dir (from this process's
// mountinfo, which is the host's mount namespace for the test binary).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// charon 6.1 starts from the sid chroot in a namespace, offers ML-KEM-768 and ML-KEM-1024,
// and none of the chroot's mounts (proc, dev, sys, the private /run) is visible on the
// host, neither while it runs nor after.
func TestStrongSwan6StartsWithMLKEM(t *testing.T) {
	in := RequireStrongSwan6(t)
	t.Parallel()
	ns := netnstest.New(t, "ss6")
	ssw := StartStrongSwan(t, in, ns.Name, StrongSwanConfig{Version: StrongSwan6})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	algs, err := ssw.Algorithms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ML_KEM_768", "ML_KEM_1024", "CURVE_25519", "ECP_384"} {
		if !slices.Contains(algs["ke"], want) {
			t.Errorf("charon 6.1 key exchanges %v lack %s", algs["ke"], want)
		}
	}
	// swanctl from the chroot reaches the same daemon and prints the same.
	out, err := ssw.Swanctl(ctx, "--list-algs")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ML_KEM_768[openssl]", "ML_KEM_1024[openssl]"} {
		if !strings.Contains(out, want) {
			t.Errorf("swanctl --list-algs lacks %s:\n%s", want, out)
		}
	}
	if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`Starting charon-systemd IKE daemon \(strongSwan 6\.`)); err != nil {
		t.Errorf("charon's log does not show strongSwan 6: %v", err)
	}
	if m := mountsUnder(t, in.StrongSwan6Root); len(m) > 0 {
		t.Errorf("mounts of the running charon leak to the host: %v", m)
	}
	if m := mountsUnder(t, "/run/oemesh"); len(m) > 0 {
		t.Errorf("the chroot's private /run leaks to the host: %v", m)
	}
	if err := ssw.Stop(); err != nil {
		t.Error(err)
	}
	if m := mountsUnder(t, in.StrongSwan6Root); len(m) > 0 {
		t.Errorf("mounts left behind after charon stopped: %v", m)
	}
}

// Two charon 6.1 instances negotiate the hybrid X25519 + ML-KEM-768 (RFC 9370, in one
// IKE_INTERMEDIATE exchange) and install a CHILD SA with kernel-libipsec that carries a
// ping: the harness runs a PQ handshake end to end, and these log lines are what the IKE
// work will see from charon.
func TestStrongSwan6PairHybrid(t *testing.T) {
	in := RequireStrongSwan6(t)
	t.Parallel()
	net := netnstest.NewPair(t, "s6")
	addrA, addrB := net.A4.String(), net.B4.String()
	edA, edB := mustEd25519(t), mustEd25519(t)
	mk := func(local, remote string, a bool) StrongSwanConn {
		me, peer := edA, edB
		if !a {
			me, peer = edB, edA
		}
		return StrongSwanConn{
			Name: "t", LocalAddrs: []string{local}, RemoteAddrs: []string{remote},
			Proposals: []string{"aes256gcm16-prfsha384-x25519-ke1_mlkem768"},
			Local:     StrongSwanAuth{Method: AuthPubkey, ID: local, Key: me},
			Remote:    StrongSwanAuth{Method: AuthPubkey, ID: remote, PublicKey: peer.Public()},
			Children:  []StrongSwanChild{{Name: "c", ESPProposals: []string{"aes256gcm16"}}},
		}
	}
	a := StartStrongSwan(t, in, net.A.Name, StrongSwanConfig{Version: StrongSwan6, Conns: []StrongSwanConn{mk(addrA, addrB, true)}})
	b := StartStrongSwan(t, in, net.B.Name, StrongSwanConfig{Version: StrongSwan6, Conns: []StrongSwanConn{mk(addrB, addrA, false)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if lines, err := a.Initiate(ctx, "t", "c"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, strings.Join(lines, "\n"))
	}
	saA, err := a.WaitEstablished(ctx, "t", "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEstablished(ctx, "t", "c"); err != nil {
		t.Fatal(err)
	}
	if saA.DHGroup != "CURVE_25519" || !slices.Equal(saA.AdditionalKE, []string{"ML_KEM_768"}) {
		t.Errorf("IKE SA key exchanges %q + %q, want CURVE_25519 + [ML_KEM_768]", saA.DHGroup, saA.AdditionalKE)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768`),
		regexp.MustCompile(`parsed IKE_INTERMEDIATE request \d+ \[ KE \]`),
	} {
		if _, err := b.Log.WaitFrom(ctx, 0, re); err != nil {
			t.Errorf("responder: %v", err)
		}
	}
	out, err := net.A.Command(ctx, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", addrB).CombinedOutput()
	if err != nil {
		t.Fatalf("ping through the CHILD SA: %v\n%s", err, out)
	}
	if _, err := a.WaitSA(ctx, func(sa IKESA) bool {
		c, ok := sa.Child("c")
		return ok && c.PacketsOut >= 2 && c.PacketsIn >= 2
	}); err != nil {
		t.Fatalf("ESP counters after ping: %v", err)
	}
	t.Logf("IKE SA: %s", saA.Raw)
}
