package dnskey

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseHookArgs feeds the arguments exactly as unbound's ipsecmod
// builds them (ipsecmod/ipsecmod.c, call_hook): the qname with its final
// dot, the IPSECKEY TTL in decimal, the addresses and the IPSECKEY rdata
// each joined by single spaces, every argument passed whole by execv.
func TestParseHookArgs(t *testing.T) {
	k := testKeys()
	rsa := b64key(t, &k.rsa.PublicKey)
	ed := b64key(t, k.ed.Public())
	p256 := b64key(t, k.p256.Public())
	for _, tc := range []struct {
		what    string
		args    []string
		addrs   []string
		records []string
		// gateways are what ParseIPSECKEYRdata makes of each record.
		gateways []string
		algs     []Algorithm
	}{
		{
			what:    "one address, one Ed25519 key",
			args:    []string{"b.example.", "300", "198.18.0.2", "10 0 4 . " + ed},
			addrs:   []string{"198.18.0.2"},
			records: []string{"10 0 4 . " + ed}, gateways: []string{"none"}, algs: []Algorithm{AlgorithmEdDSA},
		},
		{
			what:     "three addresses, RSA and Ed25519",
			args:     []string{"multi.example.", "60", "198.18.0.2 198.18.0.3 198.18.0.4", "10 0 2 . " + rsa + " 20 0 4 . " + ed},
			addrs:    []string{"198.18.0.2", "198.18.0.3", "198.18.0.4"},
			records:  []string{"10 0 2 . " + rsa, "20 0 4 . " + ed},
			gateways: []string{"none", "none"}, algs: []Algorithm{AlgorithmRSA, AlgorithmEdDSA},
		},
		{
			what:     "AAAA answer, gateways of every type",
			args:     []string{"v6.example.", "0", "2001:db8:1::2 2001:db8:1::3", "10 1 3 198.18.0.5 " + p256 + " 20 2 4 2001:db8:1::5 " + ed + " 30 3 2 gw.example. " + rsa + " 40 0 0 ."},
			addrs:    []string{"2001:db8:1::2", "2001:db8:1::3"},
			records:  []string{"10 1 3 198.18.0.5 " + p256, "20 2 4 2001:db8:1::5 " + ed, "30 3 2 gw.example. " + rsa, "40 0 0 ."},
			gateways: []string{"198.18.0.5", "2001:db8:1::5", "@gw.example.", ""}, algs: []Algorithm{AlgorithmECDSA, AlgorithmEdDSA, AlgorithmRSA, AlgorithmNone},
		},
	} {
		h, err := ParseHookArgs(tc.args)
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		var addrs []string
		for _, a := range h.Addrs {
			addrs = append(addrs, a.String())
		}
		if h.Name != strings.ToLower(tc.args[0]) || !slices.Equal(addrs, tc.addrs) || !slices.Equal(h.Records, tc.records) {
			t.Errorf("%s: got %s %v %q", tc.what, h.Name, addrs, h.Records)
		}
		for i, r := range h.Records {
			pk, err := ParseIPSECKEYRdata(h.Name, r)
			if tc.algs[i] == AlgorithmNone {
				if err == nil {
					t.Errorf("%s: record without a key accepted", tc.what)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: record %d: %v", tc.what, i, err)
				continue
			}
			if pk.Gateway.String() != tc.gateways[i] || pk.Algorithm != tc.algs[i] || pk.PublicKey == nil || pk.Name != h.Name || pk.Secure {
				t.Errorf("%s: record %d: %+v", tc.what, i, pk)
			}
		}
	}
	h, _ := ParseHookArgs([]string{"b.example.", "300", "198.18.0.2", "10 0 4 . " + ed})
	if h.TTL != 300*time.Second || h.Addrs[0] != netip.MustParseAddr("198.18.0.2") {
		t.Errorf("TTL %v, addrs %v", h.TTL, h.Addrs)
	}
}

func TestParseHookArgsRefuses(t *testing.T) {
	ed := b64key(t, testKeys().ed.Public())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"b.example.", "300", "198.18.0.2"}, "want 4"},
		{[]string{"", "300", "198.18.0.2", "10 0 4 . " + ed}, "QNAME: empty domain name"},
		{[]string{"b.example.", "-1", "198.18.0.2", "10 0 4 . " + ed}, "TTL \"-1\""},
		{[]string{"b.example.", "300s", "198.18.0.2", "10 0 4 . " + ed}, "TTL \"300s\""},
		{[]string{"b.example.", "300", "", "10 0 4 . " + ed}, "ADDRS: no addresses"},
		{[]string{"b.example.", "300", "198.18.0.2,198.18.0.3", "10 0 4 . " + ed}, "not an IPv4 or IPv6 address"},
		{[]string{"b.example.", "300", "0.0.0.0", "10 0 4 . " + ed}, "not an IPv4 or IPv6 address"},
		{[]string{"b.example.", "300", "198.18.0.2", ""}, "IPSECKEYS: no IPSECKEY records"},
		{[]string{"b.example.", "300", "198.18.0.2", "10 0 4"}, "want precedence, gateway type, algorithm and gateway"},
		{[]string{"b.example.", "300", "198.18.0.2", "10 0 four . " + ed}, "algorithm \"four\""},
		{[]string{"b.example.", "300", "198.18.0.2", "10 0 4 ."}, "algorithm 4 without a public key"},
	} {
		_, err := ParseHookArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseIPSECKEYRdataRefuses(t *testing.T) {
	ed := b64key(t, testKeys().ed.Public())
	for _, tc := range []struct{ rdata, want string }{
		{"10 0 4 . " + ed + " ; comment", "comments"},
		{"10 4 4 . " + ed, "IPSECKEY"},
		{"10 0 1 . AAAA", "DSA"},
		{"10 0 4 . !!!!", "IPSECKEY"},
		{"", "IPSECKEY"},
	} {
		_, err := ParseIPSECKEYRdata("b.example.", tc.rdata)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.rdata, err, tc.want)
		}
	}
}

// FuzzParseHookArgs checks that the hook's argument parser never panics
// and that the records it splits off are what it was given.
func FuzzParseHookArgs(f *testing.F) {
	ed := b64key(f, testKeys().ed.Public())
	f.Add("b.example.", "300", "198.18.0.2 2001:db8::2", "10 0 4 . "+ed+" 20 1 0 198.18.0.5")
	f.Add("b.example.", "0", "198.18.0.2", "10 3 4 gw.example. "+ed)
	f.Add(".", "x", "", "")
	f.Fuzz(func(t *testing.T, qname, ttl, addrs, keys string) {
		h, err := ParseHookArgs([]string{qname, ttl, addrs, keys})
		if err != nil {
			return
		}
		if len(h.Addrs) == 0 || len(h.Records) == 0 {
			t.Fatalf("accepted without addresses or records: %+v", h)
		}
		if strings.Join(h.Records, " ") != strings.Join(strings.Fields(keys), " ") {
			t.Fatalf("records %q do not make up %q", h.Records, keys)
		}
		for _, r := range h.Records {
			ParseIPSECKEYRdata(h.Name, r) // must not panic
		}
	})
}
