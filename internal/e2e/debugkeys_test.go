package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestDebugKeysWireshark: with a tunnel from a to b, `oemesh debug keys
// --wireshark DIR` on each writes the IKE SA's keys and both ESP SAs'
// into 0600 files with a warning, and the two hosts agree on them: the
// same IKE line, and for each ESP SPI the same key, though each derived
// its keys on its own.
func TestDebugKeysWireshark(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", initiator)
	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received == 0 {
		t.Fatalf("ping a→b: %+v", r)
	}
	ts, out := traffic(t, m, ctx, "a")
	if len(ts) != 1 {
		t.Fatalf("want one tunnel:\n%s", out)
	}
	tables := map[string]map[string]string{} // host → file → contents
	for _, h := range []string{"a", "b"} {
		dir := filepath.Join(t.TempDir(), h)
		out, err := m.CLI(ctx, h, "debug", "keys", "--wireshark", dir)
		if err != nil || !strings.Contains(out, "warning: ") || !strings.Contains(out, "decrypt") {
			t.Fatalf("oemesh debug keys on %s: %v\n%s", h, err, out)
		}
		tables[h] = map[string]string{}
		for _, name := range []string{"ikev2_decryption_table", "esp_sa"} {
			path := filepath.Join(dir, name)
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s on %s: mode %v, %v; want 0600", name, h, st.Mode(), err)
			}
			body, _ := os.ReadFile(path)
			tables[h][name] = string(body)
		}
	}
	ikeLines := func(h string) []string {
		var out []string
		for _, l := range strings.Split(tables[h]["ikev2_decryption_table"], "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	if la, lb := ikeLines("a"), ikeLines("b"); len(la) != 1 || len(lb) != 1 || la[0] != lb[0] {
		t.Errorf("IKE SA keys: a has %q, b %q; want one and the same line", la, lb)
	}
	espLine := func(h, spi string) string {
		for _, l := range strings.Split(tables[h]["esp_sa"], "\n") {
			if strings.Contains(l, `"0x`+spi+`"`) {
				return l
			}
		}
		return ""
	}
	tn := ts[0]
	for _, spi := range []string{tn.SPIIn, tn.SPIOut} {
		la, lb := espLine("a", spi), espLine("b", spi)
		if la == "" || la != lb || !strings.Contains(la, `"`+a.Addr4.String()+`"`) || !strings.Contains(la, "octet ICV [RFC4106]") && !strings.Contains(la, "ChaCha20") {
			t.Errorf("ESP SA %s: a has %q, b %q; want the same line", spi, la, lb)
		}
	}
}
