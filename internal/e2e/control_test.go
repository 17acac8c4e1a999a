package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// decodeStrict decodes data into v and fails on any field that v's type
// does not have: the reply is exactly the control type.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// traffic is host's `oemesh traffic --json`, and the output itself.
func traffic(t *testing.T, m *lab.Mesh, ctx context.Context, host string) ([]control.TunnelStatus, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "traffic", "--json")
	if err != nil {
		t.Fatalf("oemesh traffic on %s: %v\n%s", host, err, out)
	}
	var ts []control.TunnelStatus
	if err := decodeStrict([]byte(out), &ts); err != nil {
		t.Fatalf("oemesh traffic --json on %s: %v\n%s", host, err, out)
	}
	return ts, out
}

// hasTunnel reports whether any tunnel satisfies ok.
func hasTunnel(ts []control.TunnelStatus, ok func(control.TunnelStatus) bool) bool {
	for _, tn := range ts {
		if ok(tn) {
			return true
		}
	}
	return false
}

// shunts is host's `oemesh shunts --json`, and the output itself.
func shunts(t *testing.T, m *lab.Mesh, ctx context.Context, host string) ([]control.ShuntStatus, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "shunts", "--json")
	if err != nil {
		t.Fatalf("oemesh shunts on %s: %v\n%s", host, err, out)
	}
	var ss []control.ShuntStatus
	if err := decodeStrict([]byte(out), &ss); err != nil {
		t.Fatalf("oemesh shunts --json on %s: %v\n%s", host, err, out)
	}
	return ss, out
}

// hasShunt reports whether any shunt satisfies ok.
func hasShunt(ss []control.ShuntStatus, ok func(control.ShuntStatus) bool) bool {
	for _, s := range ss {
		if ok(s) {
			return true
		}
	}
	return false
}

// explain is host's `oemesh policy explain --json addr`, and the output.
func explain(t *testing.T, m *lab.Mesh, ctx context.Context, host, addr string) (control.Explanation, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "policy", "explain", "--json", addr)
	if err != nil {
		t.Fatalf("oemesh policy explain on %s: %v\n%s", host, err, out)
	}
	var ex control.Explanation
	if err := decodeStrict([]byte(out), &ex); err != nil {
		t.Fatalf("oemesh policy explain --json on %s: %v\n%s", host, err, out)
	}
	return ex, out
}

// prefixIs reports whether an explanation's prefix is p.
func prefixIs(ex control.Explanation, p string) bool { return ex.Prefix != nil && *ex.Prefix == p }

// TestControlAPITypes runs a real mesh with a tunnel (a↔b), a failure
// shunt (a→d, which publishes no key), a DNS cache and configured conns,
// then asks a's daemon every endpoint of the control API, and runs every
// `oemesh --json` subcommand that shows one, and decodes each reply into
// its internal/control type with unknown fields disallowed: the wire is
// exactly those types. The enum fields must hold documented values.
func TestControlAPITypes(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 120*time.Second)
	a, b, d := m.Hosts["a"], m.Hosts["b"], m.Hosts["d"]
	sec := filepath.Join(a.Dir, "ipsec.secrets")
	writeSecrets(t, sec, fmt.Sprintf("%s 198.18.0.250 : PSK \"spare\"\n%s 198.18.0.251 : PSK \"extra\"\n", a.Addr4, a.Addr4))
	conn := func(name, remote string) string {
		return fmt.Sprintf("  - name: %s\n    local: %s\n    remote: %s\n    auth: psk\n    psk: %s\n    auto: add\n", name, a.Addr4, remote, sec)
	}
	extra := filepath.Join(a.Dir, "extra.yaml")
	if err := os.WriteFile(extra, []byte("conns:\n"+conn("extra", "198.18.0.251")), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  null_auth: \"off\"\nconns:\n" + conn("spare", "198.18.0.250")})
	if r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond); r.Received == 0 {
		t.Fatalf("ping a→b: %+v", r)
	}
	m.Ping(ctx, "a", d.Addr4, 2, 200*time.Millisecond) // no key: a pass shunt
	client := control.NewClient(a.Socket)
	call := func(method, path string, in, out any) {
		t.Helper()
		var raw json.RawMessage
		if err := client.Do(ctx, method, path, in, &raw); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if err := decodeStrict(raw, out); err != nil {
			t.Errorf("%s %s: the reply is not a %T: %v\n%s", method, path, out, err, raw)
		}
	}
	cli := func(out any, args ...string) {
		t.Helper()
		text, err := m.CLI(ctx, "a", append([]string{"--json"}, args...)...)
		if err != nil {
			t.Errorf("oemesh %v: %v\n%s", args, err, text)
		}
		if err := decodeStrict([]byte(text), out); err != nil {
			t.Errorf("oemesh --json %v: the output is not a %T: %v\n%s", args, out, err, text)
		}
	}

	// GET endpoints, each through the socket and through the CLI.
	var st, stCLI control.Status
	call("GET", "/v1/status", nil, &st)
	cli(&stCLI, "status")
	for g := range st.Policy.Counts {
		if !g.Valid() {
			t.Errorf("status: policy group %q", g)
		}
	}
	if st.Counts["tunnels"] == 0 {
		t.Errorf("status counts no tunnel: %+v", st.Counts)
	}
	var ts, tsCLI []control.TunnelStatus
	call("GET", "/v1/traffic", nil, &ts)
	cli(&tsCLI, "traffic")
	if len(ts) == 0 || len(tsCLI) != len(ts) {
		t.Errorf("traffic: %d tunnels, %d by the CLI; want the same, at least 1", len(ts), len(tsCLI))
	}
	for _, tn := range ts {
		if !tn.Auth.Valid() || !tn.Mode.Valid() || tn.Peer != b.Addr4.String() || tn.Auth != control.AuthKey || tn.PeerID != b.Addr4.String() || len(tn.SPIIn) != 8 {
			t.Errorf("tunnel: %+v", tn)
		}
		// A key peer has no certificate, and OE leases no addresses.
		if tn.PeerCert != nil || len(tn.VirtualIPs) != 0 {
			t.Errorf("tunnel with a key peer: certificate %+v, virtual IPs %v", tn.PeerCert, tn.VirtualIPs)
		}
	}
	// Each tunnel shows how its IKE SA was keyed, as oemeshd's defaults
	// key it, and status counts the IKE SAs the same way.
	pq := strings.Contains(lab.DefaultKeyExchanges, "mlkem")
	for _, tn := range append(append([]control.TunnelStatus(nil), ts...), tsCLI...) {
		if tn.KeyExchanges != lab.DefaultKeyExchanges || tn.QuantumResistant != pq {
			t.Errorf("tunnel key exchanges %q, quantum-resistant %v; want %q, %v", tn.KeyExchanges, tn.QuantumResistant, lab.DefaultKeyExchanges, pq)
		}
	}
	for _, s := range []control.Status{st, stCLI} {
		k := s.IKESAs
		if k == nil || k.Total == 0 || k.ByKeyExchanges[lab.DefaultKeyExchanges] != k.Total {
			t.Errorf("status ike_sas: %+v; want every IKE SA keyed by %q", k, lab.DefaultKeyExchanges)
		} else if wantPQ := map[bool]int{false: 0, true: k.Total}[pq]; k.QuantumResistant != wantPQ {
			t.Errorf("status ike_sas: %d quantum-resistant of %d, want %d", k.QuantumResistant, k.Total, wantPQ)
		}
	}
	var ss, ssCLI []control.ShuntStatus
	call("GET", "/v1/shunts", nil, &ss)
	cli(&ssCLI, "shunts")
	if !hasShunt(ss, func(s control.ShuntStatus) bool { return s.Dst == d.Addr4.String() && s.Kind == control.ShuntPass }) {
		t.Errorf("no pass shunt for %s: %+v", d.Addr4, ss)
	}
	for _, s := range ss {
		if !s.Kind.Valid() || !s.Group.Valid() || s.Expires.IsZero() {
			t.Errorf("shunt: %+v", s)
		}
	}
	var ps, psCLI []control.DNSCacheEntry
	call("GET", "/v1/dns/cache", nil, &ps)
	cli(&psCLI, "dns", "cache")
	keys := 0
	for _, p := range ps {
		if !p.Type.Valid() || !p.Answer.Valid() {
			t.Errorf("peer entry: %+v", p)
		}
		for _, k := range p.Keys {
			keys++
			if !k.Source.Valid() || !k.Algorithm.Valid() || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
				t.Errorf("peer key: %+v", k)
			}
		}
	}
	if keys == 0 || len(psCLI) != len(ps) {
		t.Errorf("peers: %d entries with %d keys, %d by the CLI: want b's key\n%+v", len(ps), keys, len(psCLI), ps)
	}
	// The live peers: b, with the tunnels listed above.
	var pe, peCLI []control.Peer
	call("GET", "/v1/peers", nil, &pe)
	cli(&peCLI, "peers")
	if len(pe) != 1 || len(peCLI) != 1 || pe[0].Addr != b.Addr4.String() || pe[0].ID != b.Addr4.String() || pe[0].Auth != control.AuthKey ||
		pe[0].Tunnels != len(ts) || pe[0].IKESAs == 0 || pe[0].KeyExchanges != lab.DefaultKeyExchanges || pe[0].LastHandshake.IsZero() || pe[0].IdleSeconds == nil {
		t.Errorf("peers: %+v, by the CLI %+v; want b with its %d tunnels", pe, peCLI, len(ts))
	}
	var cs, csCLI []control.ConnStatus
	call("GET", "/v1/conns", nil, &cs)
	cli(&csCLI, "conn", "list")
	if len(cs) != 1 || cs[0].Name != "spare" || cs[0].State != control.ConnAdded || cs[0].Auto != control.AutoAdd || cs[0].Auth != control.AuthPSK || len(csCLI) != 1 {
		t.Errorf("conns: %+v, by the CLI %+v", cs, csCLI)
	}
	var ex, exCLI control.Explanation
	call("GET", "/v1/policy/explain?addr="+b.Addr4.String(), nil, &ex)
	cli(&exCLI, "policy", "explain", b.Addr4.String())
	if ex.Group != control.GroupPrivateOrClear || exCLI.Group != ex.Group || ex.Prefix == nil {
		t.Errorf("explain: %+v, by the CLI %+v", ex, exCLI)
	}
	var mem, memCLI control.Memory
	call("GET", "/v1/memory", nil, &mem)
	cli(&memCLI, "memory")
	if mem.HeapLive == 0 || memCLI.RSS == 0 {
		t.Errorf("memory: %+v, by the CLI %+v", mem, memCLI)
	}
	// A binding of an address no test traffic goes to, then the list.
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: "spare.example.", TTL: 300, Precedence: 10, PublicKey: b.Key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var bound control.BindReply
	call("POST", "/v1/dns/bindings", control.BindRequest{Name: "spare.example.", TTLSeconds: 300, Addrs: []string{"198.18.0.77"},
		IPSECKEYs: []string{strings.Join(strings.Fields(rr.String())[4:], " ")}}, &bound)
	var bl, blCLI control.BindingList
	call("GET", "/v1/dns/bindings", nil, &bl)
	cli(&blCLI, "dns", "bindings")
	if len(bound.Bindings) != 1 || len(bl.Bindings) != 1 || len(blCLI.Bindings) != 1 || bl.Counters.Added != 1 {
		t.Errorf("bindings: bound %+v, listed %+v, by the CLI %+v", bound, bl, blCLI)
	}
	for _, bd := range bl.Bindings {
		for _, k := range bd.Keys {
			if !k.Source.Valid() || !k.Algorithm.Valid() || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
				t.Errorf("binding key: %+v", k)
			}
		}
	}

	// The tables people read show the same state in the CLI's own words
	// (display text is not API, but it is what an admin reads).
	text := func(args ...string) string {
		t.Helper()
		out, err := m.CLI(ctx, "a", args...)
		if err != nil {
			t.Errorf("oemesh %v: %v\n%s", args, err, out)
		}
		return out
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"traffic"}, []string{b.Addr4.String(), "key", "transport", "KEY EXCHANGE", " " + lab.DefaultKeyExchanges + " "}},
		{[]string{"status"}, []string{"IKE SAs: ", lab.DefaultKeyExchanges + ": "}},
		{[]string{"shunts"}, []string{a.Addr4.String() + " → " + d.Addr4.String(), "pass", "private-or-clear"}},
		{[]string{"policy", "explain", b.Addr4.String()}, []string{b.Addr4.String() + ": private-or-clear ("}},
		{[]string{"conn", "list"}, []string{"spare", "added", "psk"}},
	} {
		out := text(c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("oemesh %v: no %q in\n%s", c.args, w, out)
			}
		}
	}
	// A routed conn more specific than the groups is named beside its group.
	text("conn", "route", "spare")
	if out := text("policy", "explain", "198.18.0.250"); !strings.Contains(out, "(conn spare)") {
		t.Errorf("oemesh policy explain of a routed conn's peer: no \"(conn spare)\" in\n%s", out)
	}
	var exConn control.Explanation
	cli(&exConn, "policy", "explain", "198.18.0.250")
	if exConn.Conn != "spare" {
		t.Errorf("explain of a routed conn's peer: %+v", exConn)
	}
	text("conn", "unroute", "spare")

	// POST endpoints.
	var pc, pcCLI control.PolicyCheck
	call("POST", "/v1/policy/check", nil, &pc)
	cli(&pcCLI, "policy", "check")
	call("POST", "/v1/policy/reload", nil, &pc)
	cli(&pcCLI, "policy", "reload")
	if !pc.OK || !pcCLI.OK {
		t.Errorf("policy reload: %+v, by the CLI %+v", pc, pcCLI)
	}
	var cr control.ConnReply
	for _, v := range []struct {
		path string
		req  control.ConnRequest
	}{
		{"/v1/conn/route", control.ConnRequest{Name: "spare"}},
		{"/v1/conn/unroute", control.ConnRequest{Name: "spare"}},
		{"/v1/secrets/reload", control.ConnRequest{}},
	} {
		cr = control.ConnReply{}
		call("POST", v.path, v.req, &cr)
		if !cr.OK {
			t.Errorf("POST %s: %+v", v.path, cr)
		}
	}
	for _, args := range [][]string{{"conn", "route", "spare"}, {"conn", "unroute", "spare"}, {"secrets", "reload"}} {
		cr = control.ConnReply{}
		cli(&cr, args...)
		if !cr.OK {
			t.Errorf("oemesh %v: %+v", args, cr)
		}
	}
	cr = control.ConnReply{}
	call("POST", "/v1/conns/add", control.ConnRequest{File: extra}, &cr)
	if !cr.OK {
		t.Errorf("conns/add: %+v", cr)
	}
	var up, upCLI control.UpReply
	call("POST", "/v1/up", control.UpRequest{Addr: b.Addr4.String()}, &up)
	cli(&upCLI, "up", b.Addr4.String())
	if !up.OK || !upCLI.OK {
		t.Errorf("up: %+v, by the CLI %+v", up, upCLI)
	}
	upCLI = control.UpReply{}
	cli(&upCLI, "down", b.Addr4.String())
	if !upCLI.OK || upCLI.Deleted == 0 {
		t.Errorf("down by the CLI: %+v", upCLI)
	}
	up = control.UpReply{}
	call("POST", "/v1/down", control.UpRequest{Addr: b.Addr4.String()}, &up) // nothing left: a reply all the same
	if up.OK || up.Addr != b.Addr4.String() {
		t.Errorf("down again: %+v", up)
	}

	// The operator's clean-ups: d's pass shunt, then b's DNS answers.
	var sc, scCLI control.ShuntsClearReply
	call("POST", "/v1/shunts/clear", control.ShuntsClearRequest{Addr: d.Addr4.String()}, &sc)
	if len(sc.Cleared) != 1 || sc.Cleared[0].Dst != d.Addr4.String() || sc.Cleared[0].Kind != control.ShuntPass {
		t.Errorf("shunts clear %s: %+v", d.Addr4, sc)
	}
	cli(&scCLI, "shunts", "clear", "--all")
	var left []control.ShuntStatus
	call("GET", "/v1/shunts", nil, &left)
	if len(scCLI.Cleared) != 0 || len(left) != 0 {
		t.Errorf("shunts clear --all after clearing d's: cleared %+v, left %+v", scCLI, left)
	}
	var fl, flCLI control.DNSFlushReply
	call("POST", "/v1/dns/flush", control.DNSFlushRequest{ID: b.Addr4.String()}, &fl)
	if rev, _ := dnskey.AddrID(b.Addr4).QueryName(); fl.Name != rev || fl.Flushed == 0 {
		t.Errorf("dns flush %s: %+v", b.Addr4, fl)
	}
	cli(&flCLI, "dns", "flush", "--all")
	var cache []control.DNSCacheEntry
	call("GET", "/v1/dns/cache", nil, &cache)
	if len(cache) != 0 {
		t.Errorf("dns cache after dns flush --all: %+v", cache)
	}
}
