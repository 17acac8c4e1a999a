package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestUDPEncapWithoutNAT: two oemeshd on the userspace data plane, no NAT
// between them. With kernel.udp_encap auto (the default) they agree on
// ESP-in-UDP on port 4500 both ways, the fast path of the userspace data
// plane (UDP GSO/GRO, shown by oemesh status), and not one protocol-50
// packet crosses the wire; with never, RFC 7296: raw ESP and no
// ESP-in-UDP. Pings and a TCP transfer pass, checked by hash, and no
// cleartext crosses the wire either way.
func TestUDPEncapWithoutNAT(t *testing.T) {
	for _, tc := range []struct {
		setting string // "" leaves the default
		inUDP   bool
	}{
		{"", true},
		{"never", false},
		{"always", true},
	} {
		name := tc.setting
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			m := newMesh(t, lab.MeshOptions{})
			ctx := ctxT(t, 90*time.Second)
			extra := "dataplane: userspace\n"
			if tc.setting != "" {
				extra += "kernel:\n  udp_encap: " + tc.setting + "\n"
			}
			start(t, m, ctx, "b", lab.HostConfig{Extra: extra, Policies: responder.Policies})
			start(t, m, ctx, "a", lab.HostConfig{Extra: extra, Policies: initiator.Policies})
			a, b := m.Hosts["a"], m.Hosts["b"]
			addr := echoServer(t, b, netip.AddrPortFrom(b.Addr4, 7))
			c := capture(t, m)

			r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
			if r.Received != 5 || !r.First {
				t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
			}
			if err := bulkEcho(ctx, a, addr, 4<<20); err != nil {
				t.Error(err)
			}
			time.Sleep(100 * time.Millisecond)
			counts := c.Settled()
			t.Logf("on the LAN: %v", counts)
			for _, k := range []lab.Kind{lab.KindICMP, lab.KindClearTCP} {
				if n := counts.Between(a.Addr4, b.Addr4, k); n != 0 {
					t.Errorf("%d cleartext %v packets between a and b", n, k)
				}
			}
			inUDP := [2]int{counts.From(a.Addr4, b.Addr4, lab.KindESPinUDP), counts.From(b.Addr4, a.Addr4, lab.KindESPinUDP)}
			bare := counts.BareESP(a.Addr4, b.Addr4)
			if tc.inUDP {
				if inUDP[0] < 100 || inUDP[1] < 10 {
					t.Errorf("ESP-in-UDP a→b %d, b→a %d; want ≥ 100 and ≥ 10", inUDP[0], inUDP[1])
				}
				if bare != 0 {
					t.Errorf("%d protocol-50 ESP packets; want all in UDP", bare)
				}
				// UDP GSO at work: the veth pair and the bridge carry the
				// sender's segments unsplit, so the echo's 2×4 MiB cross in
				// far fewer datagrams than one per 1,400 bytes (raw ESP:
				// about 6,000 here, ESP-in-UDP: about 700).
				if perMTU := 2 * (4 << 20) / 1400; inUDP[0]+inUDP[1] > perMTU*3/4 {
					t.Errorf("%d ESP-in-UDP datagrams for 8 MiB; want under %d: no UDP GSO on the wire", inUDP[0]+inUDP[1], perMTU*3/4)
				}
				for _, h := range []string{"a", "b"} {
					st := status(t, m, ctx, h)
					if st.Counts["udp_gso_sockets"] == 0 || st.Counts["udp_gro_sockets"] == 0 {
						t.Errorf("%s: udp_gso_sockets %d, udp_gro_sockets %d; want the fast path on", h, st.Counts["udp_gso_sockets"], st.Counts["udp_gro_sockets"])
					}
				}
			}
			// oemesh status says what is in effect, not only the
			// configured value (auto), and counts the pairs by
			// transport; oemesh traffic names each pair's.
			want, transport := control.UDPEncapNAT, control.ESPTransportRaw
			if tc.inUDP {
				want, transport = control.UDPEncapAlways, control.ESPTransportUDP
			}
			for _, h := range []string{"a", "b"} {
				st := status(t, m, ctx, h)
				if u := st.UDPEncap; u == nil || u.InEffect != want || u.SAs[transport] != 1 || len(u.SAs) != 2 || u.SAs[control.ESPTransportRaw]+u.SAs[control.ESPTransportUDP] != 1 {
					t.Errorf("%s: status udp_encap %+v; want in effect %s, one SA pair over %s", h, u, want, transport)
				}
				ts, _ := traffic(t, m, ctx, h)
				if len(ts) != 1 || ts[0].Transport != transport {
					t.Errorf("%s: traffic %+v; want one pair over %s", h, ts, transport)
				}
			}
			if !tc.inUDP {
				if inUDP[0]+inUDP[1] != 0 {
					t.Errorf("ESP-in-UDP a→b %d, b→a %d; want none without a NAT", inUDP[0], inUDP[1])
				}
				if bare < 100 {
					t.Errorf("%d protocol-50 ESP packets; want ≥ 100", bare)
				}
			}
		})
	}
}

// echoServer runs a TCP echo service on h at addr until the test ends.
func echoServer(t *testing.T, h *lab.MeshHost, addr netip.AddrPort) netip.AddrPort {
	t.Helper()
	stop, err := h.ServeEchoTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// bulkEcho sends size random bytes from h to the echo service at dst and
// checks that what comes back hashes the same.
func bulkEcho(ctx context.Context, h *lab.MeshHost, dst netip.AddrPort, size int) error {
	var conn net.Conn
	if err := h.Node.Do(func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	}); err != nil {
		return fmt.Errorf("TCP to %s: %w", dst, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, bytes.NewReader(data))
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	hsh := sha256.New()
	n, err := io.Copy(hsh, conn)
	if err != nil {
		return fmt.Errorf("TCP to %s: read after %d bytes: %w", dst, n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("TCP to %s: write: %w", dst, err)
	}
	if n != int64(size) || !bytes.Equal(hsh.Sum(nil), want[:]) {
		return fmt.Errorf("TCP to %s: %d bytes back of %d, hash differs", dst, n, size)
	}
	return nil
}
