package peers

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// Libreswan OE where the initiator takes the responder's RSA key from a DNSSEC-signed IPSECKEY
// record (rightrsasigkey=%dnsondemand), as issue 8 needs with oemesh's keys. It proves the
// harness's DNS plumbing: pluto's private resolv.conf (bind-mounted in its mount namespace),
// dnssec-enable and a trust anchor for the test zone. The zone is the reverse zone of
// 198.18.0.0/24 (libunbound answers 192.0.2.0/24's reverse zone itself, empty), signed with
// ldns-signzone and served by nsd on 127.0.0.1 in the initiator's namespace.
func TestLibreswanDNSSECKeyOnDemand(t *testing.T) {
	in := Require(t)
	t.Parallel()
	a, b := netnstest.New(t, "pda"), netnstest.New(t, "pdb")
	netnstest.Veth(t, a, "va", b, "vb")
	addrA, addrB := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a.Addr(t, "va", netip.PrefixFrom(addrA, 24))
	b.Addr(t, "vb", netip.PrefixFrom(addrB, 24))

	// B: authenticated OE responder with an RSA host key (cf. oe-dnssec-server.conf).
	resp := StartLibreswan(t, in, b.Name, LibreswanConfig{
		HostKeyBits: 3072,
		Conns: []LibreswanConn{{
			Name: "clear-or-private", Left: addrB.String(), LeftID: addrB.String(), LeftAuth: "rsasig", LeftHostKey: true,
			Right: "%opportunisticgroup", RightID: "%null", RightAuth: "null",
			NegotiationShunt: "hold", FailureShunt: "passthrough", Type: "tunnel", IKEv2: "insist", Auto: "add",
		}},
		Policies: map[string][]string{"clear-or-private": {"198.18.0.0/24"}},
	})

	zone := "0.18.198.in-addr.arpa"
	ds := ServeSignedZone(t, in, a.Name, zone, fmt.Sprintf(
		"2 IN PTR b.oe.test.\n2 IN IPSECKEY 10 0 2 . %s\n", strings.TrimPrefix(resp.HostKey.RSASigKey, "0s")))

	// A: anonymous initiator that wants B's key from DNS (cf. oe-dnssec-client.conf). First
	// with a trust anchor that does not match the zone's KSK: the answer is BOGUS, pluto must
	// not use the key and IKE must not authenticate. Then with the right anchor.
	startInitiator := func(anchor string) *Libreswan {
		return StartLibreswan(t, in, a.Name, LibreswanConfig{
			Nameserver: "127.0.0.1", DNSSEC: true, TrustAnchor: anchor,
			Conns: []LibreswanConn{{
				Name: "private-or-clear", Left: addrA.String(), LeftID: "%null", LeftAuth: "null",
				Right: "%opportunisticgroup", RightAuth: "rsasig", RightRSASigKey: "%dnsondemand",
				NegotiationShunt: "hold", FailureShunt: "passthrough", Type: "tunnel", IKEv2: "insist", Auto: "route",
				KeyingTries: 1, RetransmitTimeout: 2 * time.Second,
			}},
			Policies: map[string][]string{"private-or-clear": {addrB.String() + "/32"}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	established := regexpFor(`initiator established IKE SA; authenticated peer '\d+-bit RSASSA-PSS with SHA2_512' digital signature using preloaded certificate '198\.18\.0\.2'`)

	bad := startInitiator(corruptDS(t, ds))
	out, err := bad.Oppo(ctx, addrA.String(), addrB.String())
	t.Logf("whack --oppohere with a wrong trust anchor: %v\n%s", err, out)
	if _, err := bad.Log.WaitFrom(ctx, 0, regexpFor(`(?i)(authentication failed|DNS.*fail|no certificate matched|BOGUS)`)); err != nil {
		t.Fatal(err)
	}
	if l := bad.Log.LinesFrom(0, established); len(l) > 0 {
		t.Fatalf("pluto authenticated with a key from a BOGUS answer: %s", l[0])
	}
	if err := bad.Stop(); err != nil {
		t.Fatal(err)
	}

	ini := startInitiator(ds)
	out, err = ini.Oppo(ctx, addrA.String(), addrB.String())
	t.Logf("whack --oppohere: %v\n%s", err, out)
	line, err := ini.Log.WaitFrom(ctx, 0, established)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(line)
	if _, err := ini.WaitIKEEstablished(ctx, addrB.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.WaitIKEEstablished(ctx, addrA.String()); err != nil {
		t.Fatal(err)
	}
}

// corruptDS changes the last digit of a DS record's digest, so it matches no key.
func corruptDS(t *testing.T, ds string) string {
	t.Helper()
	s := strings.TrimSpace(ds)
	if s == "" {
		t.Fatal("empty DS")
	}
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl) + "\n"
}
