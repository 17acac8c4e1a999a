package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestProbeUnknownTransformType: `oemesh probe` offers an oemeshd
// responder with ike.pq off (classical: no additional key exchange, as
// before oemeshd ran them by default; TestPQMesh has the default) what
// strongSwan 6.1 offers with ke1_mlkem768, an ADDKE1 transform (RFC 9370)
// whose only method that policy does not accept. Alone, it is answered
// NO_PROPOSAL_CHOSEN, not chosen minus its ADDKE1; followed by a proposal
// oemeshd fully accepts, that one is chosen, although oemeshd prefers the
// first one's cipher. With ke1_none as well, oemeshd picks NONE and the
// IKE SA comes up classically.
func TestProbeUnknownTransformType(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: pqConfig("off")})
	c := capture(t, m)
	probe := func(ike string) (probeReport, int) {
		t.Helper()
		c.Reset()
		cmd := a.Node.Command(ctx, filepath.Join(binDir, "oemesh"), "probe", b.Addr4.String(), "--json", "--auth", "null", "--timeout", "3s", "--ike", ike)
		out, err := cmd.Output()
		var rep probeReport
		if jerr := json.Unmarshal(out, &rep); jerr != nil {
			t.Fatalf("oemesh probe --ike %s: %v, no JSON report: %v\n%s", ike, err, jerr, out)
		}
		return rep, c.Settled().Between(a.Addr4, b.Addr4, lab.KindIKE)
	}
	rep, ikePkts := probe("aes256gcm16-prfsha256-x25519-ke1_mlkem768")
	if rep.Notify != "NO_PROPOSAL_CHOSEN" || rep.Exit != 2 {
		t.Errorf("ADDKE1 only: exit %d, notify %q, IKE %+v; want exit 2 with NO_PROPOSAL_CHOSEN (error %q)", rep.Exit, rep.Notify, rep.IKE, rep.Error)
	}
	if ikePkts != 2 {
		t.Errorf("ADDKE1 only: %d IKE datagrams on the wire, want 2 (IKE_SA_INIT and its refusal)", ikePkts)
	}
	rep, ikePkts = probe("aes256gcm16-prfsha256-x25519-ke1_mlkem768,aes128gcm16-prfsha256-x25519")
	if !rep.Established || rep.IKE == nil || rep.IKE.Encr != "AES_GCM_16_128" {
		t.Errorf("ADDKE1, then a plain proposal: established %v, IKE %+v; want proposal 2 (AES_GCM_16_128) (error %q)", rep.Established, rep.IKE, rep.Error)
	}
	if ikePkts < 4 {
		t.Errorf("ADDKE1, then a plain proposal: %d IKE datagrams on the wire, want IKE_SA_INIT and IKE_AUTH both ways", ikePkts)
	}
	if !strings.Contains(m.Log("b"), "no acceptable ADDKE1: offered [ML_KEM_768], accept [NONE]") {
		t.Errorf("B's log does not say why it refused proposal 1")
	}
	rep, _ = probe("aes256gcm16-prfsha256-x25519-ke1_mlkem768-ke1_none")
	if !rep.Established || rep.IKE == nil || rep.IKE.Encr != "AES_GCM_16_256" || rep.IKE.DH != "CURVE25519" {
		t.Errorf("ADDKE1 ML-KEM-768 or NONE: established %v, IKE %+v; want a classical IKE SA (error %q)", rep.Established, rep.IKE, rep.Error)
	}
}

// probeReport is the part of `oemesh probe --json` these tests read.
type probeReport struct {
	Exit        int    `json:"exit"`
	Error       string `json:"error"`
	Notify      string `json:"notify"`
	Established bool   `json:"established"`
	IKE         *struct {
		Encr string `json:"encr"`
		DH   string `json:"dh"`
	} `json:"ike"`
}
