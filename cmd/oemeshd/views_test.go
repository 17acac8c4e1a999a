package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/policygroups"
)

// enumCase is one typed value and the enum it must become.
type enumCase struct {
	name string
	got  interface{ Valid() bool }
	want any
}

// TestEnumViews maps every value of the domain packages' enums that the
// daemon serves: each becomes the documented control value, and a value
// outside the known set becomes an invalid (empty) one, never display text.
func TestEnumViews(t *testing.T) {
	cases := []enumCase{
		{"pubkey", authView(ike.AuthKindPubkey), control.AuthKey},
		{"psk", authView(ike.AuthKindPSK), control.AuthPSK},
		{"null", authView(ike.AuthKindNull), control.AuthNull},
		{"cert", authView(ike.AuthKindCert), control.AuthCert},
		{"tunnel", modeView(ike.ModeTunnel), control.ModeTunnel},
		{"transport", modeView(ike.ModeTransport), control.ModeTransport},
		{"pass", shuntKindView(kernel.ShuntPass), control.ShuntPass},
		{"drop", shuntKindView(kernel.ShuntDrop), control.ShuntDrop},
		{"hold", shuntKindView(kernel.ShuntHold), control.ShuntHold},
		{"IPSECKEY", recordTypeView(dnskey.SourceIPSECKEY), control.RecordIPSECKEY},
		{"TXT", recordTypeView(dnskey.SourceTXT), control.RecordTXT},
		{"KEY", recordTypeView(dnskey.SourceKEY), control.RecordKEY},
		{"records", answerView(dnskey.AnswerRecords), control.AnswerRecords},
		{"NODATA", answerView(dnskey.AnswerNoData), control.AnswerNoData},
		{"NXDOMAIN", answerView(dnskey.AnswerNXDomain), control.AnswerNXDomain},
		{"alg none", algorithmView(dnskey.AlgorithmNone), control.KeyNone},
		{"DSA", algorithmView(dnskey.AlgorithmDSA), control.KeyDSA},
		{"RSA", algorithmView(dnskey.AlgorithmRSA), control.KeyRSA},
		{"ECDSA", algorithmView(dnskey.AlgorithmECDSA), control.KeyECDSA},
		{"EdDSA", algorithmView(dnskey.AlgorithmEdDSA), control.KeyEdDSA},
	}
	wantGroups := []control.Group{control.GroupClear, control.GroupClearOrPrivate, control.GroupPrivateOrClear, control.GroupPrivate, control.GroupBlock}
	for i, g := range policygroups.Groups {
		cases = append(cases, enumCase{g.String(), groupView(g), wantGroups[i]})
	}
	for _, c := range cases {
		if !c.got.Valid() || c.got != c.want {
			t.Errorf("%s: %q (valid %v), want %q", c.name, c.got, c.got.Valid(), c.want)
		}
	}
	for _, bad := range []interface{ Valid() bool }{authView(ike.AuthKindNone), modeView(ike.Mode(200)), groupView(policygroups.Group(200)),
		shuntKindView(kernel.ShuntKind(200)), recordTypeView(dnskey.Source(200)), answerView(dnskey.Answer(200)), algorithmView(dnskey.Algorithm(200))} {
		if bad.Valid() {
			t.Errorf("an unknown value became the valid %q", bad)
		}
	}
}

func TestTunnelView(t *testing.T) {
	ts := []ike.TrafficSelector{{Start: netip.MustParseAddr("198.18.0.1"), End: netip.MustParseAddr("198.18.0.1")}}
	in := oe.TunnelStatus{
		Peer: netip.MustParseAddr("198.18.0.2"), PeerID: ike.NullIdentity(), Auth: ike.AuthKindNull, Mode: ike.ModeTransport,
		Local: ts, Remote: ts, SPIIn: 0xc0ffee, SPIOut: 0x1, InBytes: 10, OutBytes: 20,
		Age: 65*time.Second + 600*time.Millisecond, Idle: 400 * time.Millisecond, Initiator: true,
	}
	want := control.TunnelStatus{Peer: "198.18.0.2", Auth: control.AuthNull, Mode: control.ModeTransport,
		Local: []string{"198.18.0.1-198.18.0.1"}, Remote: []string{"198.18.0.1-198.18.0.1"}, SPIIn: "00c0ffee", SPIOut: "00000001",
		InBytes: 10, OutBytes: 20, AgeSeconds: 66, IdleSeconds: 0, Initiator: true}
	if got := tunnelView(in); !jsonEqual(t, got, want) {
		t.Errorf("anonymous peer:\n got %+v\nwant %+v", got, want)
	}
	in.Auth, in.PeerID = ike.AuthKindPubkey, ike.FQDNIdentity("b.example")
	want.Auth, want.PeerID = control.AuthKey, "@b.example"
	if got := tunnelView(in); !jsonEqual(t, got, want) {
		t.Errorf("key peer:\n got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct {
		kes  ike.KeyExchanges
		want string
		pq   bool
	}{
		{ike.KeyExchanges{ike.DHCurve25519}, "x25519", false},
		{ike.KeyExchanges{ike.DHCurve25519, ike.DHMLKEM768}, "x25519+mlkem768", true},
		{ike.KeyExchanges{ike.DHMLKEM1024}, "mlkem1024", true},
	} {
		in.KeyExchanges = tc.kes
		want.KeyExchanges, want.QuantumResistant = tc.want, tc.pq
		if got := tunnelView(in); !jsonEqual(t, got, want) {
			t.Errorf("key exchanges %v:\n got %+v\nwant %+v", tc.kes, got, want)
		}
	}
}

// TestTunnelViewCertificate: a certificate peer's tunnel shows the
// certificate's subject, issuer, SANs, expiry and fingerprint, and the
// virtual IPs of its IKE SA.
func TestTunnelViewCertificate(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	in := oe.TunnelStatus{
		Peer: netip.MustParseAddr("198.18.0.2"), PeerID: ike.FQDNIdentity("b.example"), Auth: ike.AuthKindCert, Mode: ike.ModeTunnel,
		SPIIn: 1, SPIOut: 2,
		PeerCert: &ike.PeerCertificate{Raw: []byte("der"), Subject: "CN=b.example,O=Example", Issuer: "CN=Example CA",
			NotAfter: notAfter, DNSNames: []string{"b.example"}, IPAddresses: []netip.Addr{netip.MustParseAddr("198.18.0.2")}},
		VirtualIPs: []netip.Addr{netip.MustParseAddr("100.64.0.7"), netip.MustParseAddr("fd00::7")},
	}
	got := tunnelView(in)
	// sha256("der"), base64 without padding.
	want := &control.PeerCertificate{Subject: "CN=b.example,O=Example", Issuer: "CN=Example CA", DNSNames: []string{"b.example"},
		IPAddresses: []string{"198.18.0.2"}, NotAfter: notAfter.UTC(), Fingerprint: "SHA256:UFDYDSLs1HHqVd9wNAQsHgQTQf9AZuf2/zjiC3IN+Oo"}
	if got.Auth != control.AuthCert || got.PeerID != "@b.example" || !jsonEqual(t, got.PeerCert, want) {
		t.Errorf("certificate peer: auth %q, ID %q, certificate\n got %+v\nwant %+v", got.Auth, got.PeerID, got.PeerCert, want)
	}
	if !slices.Equal(got.VirtualIPs, []string{"100.64.0.7", "fd00::7"}) {
		t.Errorf("virtual IPs %v", got.VirtualIPs)
	}
	// No SANs: empty lists, not null, so a client need not test for both.
	in.PeerCert.DNSNames, in.PeerCert.IPAddresses, in.VirtualIPs = nil, nil, nil
	js, err := json.Marshal(tunnelView(in))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(js); !strings.Contains(s, `"dns_names":[]`) || !strings.Contains(s, `"ip_addresses":[]`) || strings.Contains(s, "virtual_ips") {
		t.Errorf("JSON without SANs or virtual IPs: %s", s)
	}
	// A key peer has no certificate in the reply at all.
	in.Auth, in.PeerCert = ike.AuthKindPubkey, nil
	if js, _ := json.Marshal(tunnelView(in)); strings.Contains(string(js), "peer_cert") {
		t.Errorf("key peer's JSON names a certificate: %s", js)
	}
}

// TestIKESAsView: the summary counts the IKE SAs that carry CHILD SAs, by
// key exchanges, and those among them that ran ML-KEM.
func TestIKESAsView(t *testing.T) {
	child := []ike.ChildSAInfo{{SPIIn: 1}}
	hybrid := ike.KeyExchanges{ike.DHCurve25519, ike.DHMLKEM768}
	sas := []ike.SAInfo{
		{KeyExchanges: hybrid, Children: child},
		{KeyExchanges: hybrid, Children: child},
		{KeyExchanges: ike.KeyExchanges{ike.DHCurve25519}, Children: child},
		{KeyExchanges: ike.KeyExchanges{ike.DHMLKEM768}, Children: child},
		{KeyExchanges: hybrid},                             // no CHILD SA: not counted
		{KeyExchanges: ike.KeyExchanges{ike.DHCurve25519}}, // being set up: not counted
	}
	want := control.IKESASummary{Total: 4, QuantumResistant: 3,
		ByKeyExchanges: map[string]int{"x25519+mlkem768": 2, "x25519": 1, "mlkem768": 1}}
	if got := ikeSAsView(sas); !jsonEqual(t, got, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", got, want)
	}
	if got := ikeSAsView(nil); !jsonEqual(t, got, control.IKESASummary{}) {
		t.Errorf("no SAs: %+v", got)
	}
}

func TestDNSCacheView(t *testing.T) {
	es := []dnskey.CacheEntry{{
		Name: "2.0.18.198.in-addr.arpa.", Type: dnskey.SourceIPSECKEY, Answer: dnskey.AnswerRecords, Secure: true, Expires: 299 * time.Second,
		Keys: []dnskey.PeerKey{
			{Name: "2.0.18.198.in-addr.arpa.", Source: dnskey.SourceIPSECKEY, Precedence: 10, Algorithm: dnskey.AlgorithmEdDSA,
				Gateway: dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: netip.MustParseAddr("198.18.0.9")}, TTL: 299 * time.Second, Record: "r1"},
			{Name: "2.0.18.198.in-addr.arpa.", Source: dnskey.SourceKEY, Precedence: dnskey.NoPrecedence, Algorithm: dnskey.AlgorithmRSA, Record: "r2"},
		},
	}, {Name: "3.0.18.198.in-addr.arpa.", Type: dnskey.SourceTXT, Answer: dnskey.AnswerNXDomain}}
	ten := 10
	want := []control.DNSCacheEntry{{
		Name: "2.0.18.198.in-addr.arpa.", Type: control.RecordIPSECKEY, Answer: control.AnswerRecords, Secure: true, ExpiresInSeconds: 299,
		Keys: []control.PeerKey{
			{Name: "2.0.18.198.in-addr.arpa.", Source: control.RecordIPSECKEY, Precedence: &ten, Gateway: "198.18.0.9", Algorithm: control.KeyEdDSA, TTLSeconds: 299, Record: "r1"},
			{Name: "2.0.18.198.in-addr.arpa.", Source: control.RecordKEY, Algorithm: control.KeyRSA, Record: "r2"},
		},
	}, {Name: "3.0.18.198.in-addr.arpa.", Type: control.RecordTXT, Answer: control.AnswerNXDomain}}
	if got := dnsCacheView(es); !jsonEqual(t, got, want) {
		t.Errorf("dns cache:\n got %+v\nwant %+v", got, want)
	}
}

// TestExplanationJSON pins the documented JSON form of `policy explain`:
// prefix is null and source "default" when nothing matched.
func TestExplanationJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "private"), []byte("\n192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := policygroups.Load(t.Context(), dir, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.9", `{"address":"192.0.2.9","group":"private","prefix":"192.0.2.0/24","source":"` + filepath.Join(dir, "private") + `:2"}`},
		{"203.0.113.1", `{"address":"203.0.113.1","group":"clear","prefix":null,"source":"default"}`},
	} {
		b, err := json.Marshal(explanationView(p.Lookup(netip.MustParseAddr(tc.addr)).Explain()))
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.addr, b, err, tc.want)
		}
	}
}

// TestExplanationJSONExemption: an exempted resolver's explanation names
// the exemption and why (docs/dns-exemption.md shows this form).
func TestExplanationJSONExemption(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "private-or-clear"), []byte("198.18.0.0/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := policygroups.Load(t.Context(), dir, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("198.18.0.53")
	p, _ = p.Exempt([]policygroups.Exemption{{Addr: addr, Reason: "DNS server from /etc/resolv.conf"}})
	b, err := json.Marshal(explanationView(p.Lookup(addr).Explain()))
	want := `{"address":"198.18.0.53","group":"clear-or-private","prefix":"198.18.0.53/32","source":"oemeshd exemption","exemption":"DNS server from /etc/resolv.conf"}`
	if err != nil || string(b) != want {
		t.Errorf("%s %v, want %s", b, err, want)
	}
}

func TestConnView(t *testing.T) {
	for _, tc := range []struct {
		auth ike.AuthKind
		want control.Auth
	}{{ike.AuthKindPubkey, control.AuthKey}, {ike.AuthKindPSK, control.AuthPSK}, {ike.AuthKindNull, control.AuthNull}} {
		c := connView(conn.Status{Name: "office", State: conn.StateGaveUp, Auto: "route", Auth: tc.auth, Since: 65 * time.Second})
		if c.Auth != tc.want || c.State != control.ConnGaveUp || c.Auto != control.AutoRoute || c.SinceSeconds != 65 ||
			!c.Auth.Valid() || !c.State.Valid() || !c.Auto.Valid() {
			t.Errorf("auth %v: %+v", tc.auth, c)
		}
	}
}

// TestConnStateView: every conn state maps to a valid control enum that
// reads as `oemesh conn list` shows the state.
func TestConnStateView(t *testing.T) {
	for s := conn.StateAdded; s <= conn.StateGaveUp; s++ {
		if v := connStateView(s); !v.Valid() || string(v) != s.String() {
			t.Errorf("conn state %v: control %q", s, v)
		}
	}
}

// jsonEqual compares two values by their JSON: what a client would see.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
