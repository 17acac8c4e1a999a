package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestKeyExchangesVisible: a's oemeshd brings up a conn whose IKE
// proposal is the X25519 + ML-KEM-768 hybrid to `oemesh respond` on b,
// which requires the same. (An oemeshd responder chooses with its engine's
// proposals, not a conn's: until the hybrid is its default, it refuses
// ML-KEM.) a's `oemesh traffic` (JSON and table) and `oemesh status` (JSON
// and text) show the IKE SA's key exchanges as x25519+mlkem768 and count
// it quantum-resistant, and so do a's Prometheus metrics.
func TestKeyExchangesVisible(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	const (
		metricsAddr = "127.0.0.1:9641"
		hybrid      = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
		psk         = "a hybrid conn's key"
	)
	resp := b.Node.Command(ctx, filepath.Join(binDir, "oemesh"), "respond", "--listen", b.Addr4.String(), "--auth", "psk", "--psk", psk, "--ike", hybrid)
	var respOut strings.Builder
	resp.Stdout, resp.Stderr = &respOut, &respOut
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		resp.Process.Kill()
		resp.Wait()
		if t.Failed() {
			t.Logf("oemesh respond on b:\n%s", respOut.String())
		}
	})
	sec := filepath.Join(a.Dir, "ipsec.secrets")
	writeSecrets(t, sec, fmt.Sprintf("%s %s : PSK \"%s\"\n", a.Addr4, b.Addr4, psk))
	start(t, m, ctx, "a", lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: pq
    local: %s
    remote: %s
    auth: psk
    psk: %s
    ike: %s
    auto: start
metrics:
  listen: "%s"
`, a.Addr4, b.Addr4, sec, hybrid, metricsAddr)})
	waitConn(t, m, ctx, "a", "pq", 20*time.Second, func(c control.ConnStatus) bool { return c.State == control.ConnUp })

	var ts []control.TunnelStatus
	out, err := m.CLI(ctx, "a", "--json", "traffic")
	if err != nil || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 1 {
		t.Fatalf("oemesh --json traffic: %v\n%s", err, out)
	}
	if ts[0].KeyExchanges != "x25519+mlkem768" || !ts[0].QuantumResistant {
		t.Errorf("tunnel key exchanges %q, quantum-resistant %v; want x25519+mlkem768, true", ts[0].KeyExchanges, ts[0].QuantumResistant)
	}
	var st control.Status
	out, err = m.CLI(ctx, "a", "--json", "status")
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("oemesh --json status: %v\n%s", err, out)
	}
	if k := st.IKESAs; k == nil || k.Total != 1 || k.QuantumResistant != 1 || k.ByKeyExchanges["x25519+mlkem768"] != 1 {
		t.Errorf("status ike_sas %+v; want one quantum-resistant IKE SA, x25519+mlkem768", k)
	}
	if out, _ := m.CLI(ctx, "a", "traffic"); !strings.Contains(out, " x25519+mlkem768 ") {
		t.Errorf("oemesh traffic shows no x25519+mlkem768:\n%s", out)
	}
	if out, _ := m.CLI(ctx, "a", "status"); !strings.Contains(out, "IKE SAs: 1, quantum-resistant: 1 (x25519+mlkem768: 1)\n") {
		t.Errorf("oemesh status does not count the quantum-resistant IKE SA:\n%s", out)
	}

	metrics := scrapeIn(t, a.Node, metricsAddr)
	for _, want := range []string{`oemesh_ike_sas{key_exchanges="x25519+mlkem768"} 1`, "oemesh_ike_sas_quantum_resistant 1"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("a's metrics lack %q:\n%s", want, metrics)
		}
	}
}

// scrapeIn fetches http://addr/metrics from inside n's namespace.
func scrapeIn(t *testing.T, n *lab.Node, addr string) string {
	t.Helper()
	var body string
	err := n.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("scraping %s in %s: %v", addr, n.NSName, err)
	}
	return body
}
