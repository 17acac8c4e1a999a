package dnskey

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseTXT(t *testing.T) {
	k := testKeys()
	key := b64key(t, &k.rsa.PublicKey)
	tests := []struct {
		name    string
		strs    []string
		prec    int
		gw      string
		wantKey bool
		err     string // substring; "notipsec" for an ignored record
	}{
		{name: "address and bare key", strs: []string{"X-IPsec-Server(10)=198.18.0.1 " + key}, prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "0s prefix", strs: []string{"X-IPsec-Server(10)=198.18.0.1 0s" + key}, prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "hex precedence", strs: []string{"X-IPsec-Server(0x1F)=198.18.0.1 " + key}, prec: 31, gw: "198.18.0.1", wantKey: true},
		{name: "lower case tag, spaces", strs: []string{"  x-ipsec-server ( 7 ) = 2001:db8::1   " + key + "  "}, prec: 7, gw: "2001:db8::1", wantKey: true},
		{name: "fqdn gateway no key", strs: []string{"X-IPsec-Server(5)=@GW.Example.com"}, prec: 5, gw: "@gw.example.com."},
		{name: "split FreeS/WAN style", strs: append([]string{"X-IPsec-Server(10)=198.18.0.1 "}, chunks(key, 240)...), prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "split at 255 without spaces", strs: chunks("X-IPsec-Server(10)=198.18.0.1 "+key, 255), prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "split inside the gateway", strs: []string{"X-IPsec-Server(10)=198.18.", "0.1 " + key}, prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "gateway then key in next string", strs: []string{"X-IPsec-Server(10)=198.18.0.1", key}, prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "tab separator", strs: []string{"X-IPsec-Server(10)=198.18.0.1\t" + key}, prec: 10, gw: "198.18.0.1", wantKey: true},
		{name: "other TXT", strs: []string{"v=spf1 -all"}, err: "notipsec"},
		{name: "empty", strs: nil, err: "notipsec"},
		{name: "no paren", strs: []string{"X-IPsec-Server=198.18.0.1"}, err: "want \"(\""},
		{name: "unclosed", strs: []string{"X-IPsec-Server(10=198.18.0.1"}, err: "no closing"},
		{name: "precedence too big", strs: []string{"X-IPsec-Server(65536)=198.18.0.1"}, err: "not a number in 0-65535"},
		{name: "precedence octal-looking", strs: []string{"X-IPsec-Server(010)=198.18.0.1"}, err: "leading zero"},
		{name: "precedence negative", strs: []string{"X-IPsec-Server(-1)=198.18.0.1"}, err: "not a number"},
		{name: "no equals", strs: []string{"X-IPsec-Server(10) 198.18.0.1"}, err: "want \"=\""},
		{name: "no gateway", strs: []string{"X-IPsec-Server(10)="}, err: "no gateway"},
		{name: "unspecified gateway", strs: []string{"X-IPsec-Server(10)=0.0.0.0 " + key}, err: "unspecified"},
		{name: "unspecified v6 gateway", strs: []string{"X-IPsec-Server(10)=:: " + key}, err: "unspecified"},
		{name: "dot gateway", strs: []string{"X-IPsec-Server(10)=. " + key}, err: "must name its gateway"},
		{name: "junk gateway", strs: []string{"X-IPsec-Server(10)=gw.example " + key}, err: "neither an address nor @fqdn"},
		{name: "bad base64", strs: []string{"X-IPsec-Server(10)=198.18.0.1 AQ!!"}, err: "not base64"},
		{name: "hex key form", strs: []string{"X-IPsec-Server(10)=198.18.0.1 0x0103"}, err: "only base64"},
		{name: "short key", strs: []string{"X-IPsec-Server(10)=198.18.0.1 AQNBBBBB"}, err: "RFC 3110"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseTXT(tc.strs)
			switch {
			case tc.err == "notipsec":
				if err == nil || !strings.Contains(err.Error(), errNotIPsec.Error()) {
					t.Fatalf("err = %v, want not-ipsec", err)
				}
				return
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if r.Precedence != tc.prec || r.Gateway.String() != tc.gw || (r.Key != nil) != tc.wantKey {
				t.Fatalf("got prec %d gw %s key %v", r.Precedence, r.Gateway, r.Key != nil)
			}
			if tc.wantKey && !r.Key.Equal(&k.rsa.PublicKey) {
				t.Fatal("wrong key")
			}
		})
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestParseIPSECKEY(t *testing.T) {
	k := testKeys()
	rsaKey, edKey, p256, p384 := b64key(t, &k.rsa.PublicKey), b64key(t, k.ed.Public()), b64key(t, &k.p256.PublicKey), b64key(t, &k.p384.PublicKey)
	name := "2.0.18.198.in-addr.arpa. 300 IN IPSECKEY "
	tests := []struct {
		rr   string
		gw   string
		alg  Algorithm
		prec int
		err  string
	}{
		{rr: "10 0 2 . " + rsaKey, gw: "none", alg: AlgorithmRSA, prec: 10},
		{rr: "20 1 4 198.18.0.9 " + edKey, gw: "198.18.0.9", alg: AlgorithmEdDSA, prec: 20},
		{rr: "30 2 3 2001:db8::9 " + p256, gw: "2001:db8::9", alg: AlgorithmECDSA, prec: 30},
		{rr: "40 3 3 GW.example.com. " + p384, gw: "@gw.example.com.", alg: AlgorithmECDSA, prec: 40},
		{rr: "10 0 1 . " + rsaKey, err: "unsupported key algorithm DSA"},
		{rr: "10 0 9 . " + rsaKey, err: "unsupported key algorithm algorithm-9"},
		{rr: "10 0 4 . " + rsaKey, err: "not Ed25519"},
		{rr: "10 0 2 . " + edKey, err: "RFC 3110"},
		{rr: "10 0 3 . " + edKey, err: "neither P-256"},
	}
	for _, tc := range tests {
		rr := mustRR(t, name+tc.rr).(*dns.IPSECKEY)
		pk, err := ParseIPSECKEY(rr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.rr[:12], err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.rr[:12], err)
			continue
		}
		if pk.Gateway.String() != tc.gw || pk.Algorithm != tc.alg || pk.Precedence != tc.prec || pk.Source != SourceIPSECKEY {
			t.Errorf("%s: got %+v", tc.rr[:12], pk)
		}
	}
	// Shapes the zone-file parser refuses but the wire can carry.
	bad := []struct {
		rr  *dns.IPSECKEY
		err string
	}{
		{&dns.IPSECKEY{GatewayType: 7, Algorithm: 2, PublicKey: rsaKey}, "unknown gateway type 7"},
		{&dns.IPSECKEY{GatewayType: 1, Algorithm: 2, PublicKey: rsaKey}, "without a valid address"},
		{&dns.IPSECKEY{GatewayType: 1, Algorithm: 2, GatewayAddr: netip.MustParseAddr("2001:db8::1").AsSlice(), PublicKey: rsaKey}, "type 1 (IPv4) holds"},
		{&dns.IPSECKEY{GatewayType: 2, Algorithm: 2, GatewayAddr: netip.MustParseAddr("198.18.0.1").AsSlice(), PublicKey: rsaKey}, "type 2 (IPv6) holds"},
		{&dns.IPSECKEY{GatewayType: 1, Algorithm: 2, GatewayAddr: netip.MustParseAddr("0.0.0.0").AsSlice(), PublicKey: rsaKey}, "unspecified"},
		{&dns.IPSECKEY{GatewayType: 3, Algorithm: 2, GatewayHost: ".", PublicKey: rsaKey}, "empty domain name"},
		{&dns.IPSECKEY{GatewayType: 0, Algorithm: 2}, "no public key"},
		{&dns.IPSECKEY{GatewayType: 0, Algorithm: 2, PublicKey: "!!"}, "not base64"},
	}
	for _, tc := range bad {
		if _, err := ParseIPSECKEY(tc.rr); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("err = %v, want %q", err, tc.err)
		}
	}
}

func TestParseKEY(t *testing.T) {
	key := b64key(t, &testKeys().rsa.PublicKey)
	tests := []struct{ rr, err string }{
		{rr: "16896 4 1 " + key},
		{rr: "512 4 5 " + key},
		{rr: "16896 3 1 " + key, err: "protocol 3 is not IPsec"},
		{rr: "16896 4 13 " + key, err: "algorithm 13 is not RSA"},
		{rr: "49664 4 1 " + key, err: "forbid authentication"},
		{rr: "33280 4 1 " + key, err: "forbid authentication"},
		{rr: "20992 4 1 " + key, err: "extended flags"},
		{rr: "25088 4 1 " + key, err: "reserved bits"},
		{rr: "16912 4 1 " + key, err: "reserved bits"},
		{rr: "16896 4 1 AQNBBB==", err: "RFC 3110"},
	}
	for _, tc := range tests {
		rr := mustRR(t, "2.0.18.198.in-addr.arpa. 300 IN KEY "+tc.rr).(*dns.KEY)
		pk, err := ParseKEY(rr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.12s: err = %v, want %q", tc.rr, err, tc.err)
			}
			continue
		}
		if err != nil || pk.Source != SourceKEY || pk.Precedence != NoPrecedence || pk.Gateway.Kind != GatewayNone {
			t.Errorf("%.12s: %+v %v", tc.rr, pk, err)
		}
	}
}

// The records showhostkey prints must parse back, in miekg/dns's zone
// parser, to the same key.
func TestRecordFormatsRoundTrip(t *testing.T) {
	k := testKeys()
	gw4 := Gateway{Kind: GatewayAddr, Addr: netip.MustParseAddr("198.18.0.9")}
	gw6 := Gateway{Kind: GatewayAddr, Addr: netip.MustParseAddr("2001:db8::9")}
	gwn := Gateway{Kind: GatewayName, Name: "gw.example.com."}
	for _, spec := range []RecordSpec{
		{Name: "2.0.18.198.in-addr.arpa", TTL: 300, Precedence: 10, PublicKey: &k.rsa.PublicKey},
		{Name: "host.example.com", TTL: 300, Precedence: 20, Gateway: gw4, PublicKey: k.ed.Public()},
		{Name: "host.example.com", TTL: 300, Precedence: 30, Gateway: gw6, PublicKey: &k.p256.PublicKey},
		{Name: "host.example.com", TTL: 300, Precedence: 40, Gateway: gwn, PublicKey: &k.p384.PublicKey},
	} {
		rr, err := IPSECKEYRecord(spec)
		if err != nil {
			t.Fatal(err)
		}
		back := mustRR(t, rr.String()).(*dns.IPSECKEY)
		pk, err := ParseIPSECKEY(back)
		if err != nil {
			t.Fatalf("%s: %v", rr, err)
		}
		if pkix(t, pk.PublicKey) != pkix(t, spec.PublicKey) || pk.Gateway != spec.Gateway || pk.Precedence != spec.Precedence {
			t.Fatalf("IPSECKEY round trip: %+v from %s", pk, rr)
		}
	}

	spec := RecordSpec{Name: "2.0.18.198.in-addr.arpa", TTL: 300, Precedence: 10, Gateway: gw4, PublicKey: &k.rsa.PublicKey}
	txt, err := TXTRecordRR(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range txt.Txt {
		if len(s) > 255 {
			t.Fatalf("TXT string of %d octets", len(s))
		}
	}
	back := mustRR(t, txt.String()).(*dns.TXT)
	r, err := ParseTXT(back.Txt)
	if err != nil || !r.Key.Equal(&k.rsa.PublicKey) || r.Gateway != gw4 || r.Precedence != 10 {
		t.Fatalf("TXT round trip: %+v %v from %s", r, err, txt)
	}
	key, err := KEYRecord(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(key.String(), "KEY\t16896 4 1 ") {
		t.Fatalf("KEY line %q should use decimal flags 16896 (0x4200), protocol 4, algorithm 1", key)
	}
	pk, err := ParseKEY(mustRR(t, key.String()).(*dns.KEY))
	if err != nil || pkix(t, pk.PublicKey) != pkix(t, spec.PublicKey) {
		t.Fatalf("KEY round trip: %v", err)
	}

	if _, err := TXTRecordRR(RecordSpec{Name: "x.example", Gateway: gw4, PublicKey: k.ed.Public()}); err == nil || !strings.Contains(err.Error(), "RSA keys only") {
		t.Fatalf("TXT with Ed25519: %v", err)
	}
	if _, err := KEYRecord(RecordSpec{Name: "x.example", PublicKey: k.ed.Public()}); err == nil {
		t.Fatal("KEY with Ed25519 accepted")
	}
	if _, err := TXTRecordRR(RecordSpec{Name: "x.example", PublicKey: &k.rsa.PublicKey}); err == nil || !strings.Contains(err.Error(), "needs a gateway") {
		t.Fatalf("TXT without gateway: %v", err)
	}
	if _, err := IPSECKEYRecord(RecordSpec{Name: "x.example", Precedence: 256, PublicKey: k.ed.Public()}); err == nil {
		t.Fatal("IPSECKEY precedence 256 accepted")
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]string{
		"198.18.0.2":        "2.0.18.198.in-addr.arpa.",
		"2001:db8::2":       "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
		"::ffff:198.18.0.2": "2.0.18.198.in-addr.arpa.",
		"@Host.Example.COM": "host.example.com.",
	} {
		id, err := ParseID(in)
		if err != nil {
			t.Fatal(err)
		}
		if q, _ := id.QueryName(); q != want {
			t.Errorf("%s: query name %s, want %s", in, q, want)
		}
	}
	for _, bad := range []string{"", "@", "@a b", "host.example", "0.0.0.0", "fe80::1%eth0", "@" + strings.Repeat("a", 70) + ".example"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
