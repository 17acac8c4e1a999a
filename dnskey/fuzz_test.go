package dnskey

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"golang.org/x/crypto/cryptobyte"
)

// The fuzz targets check that parsers of DNS data never panic and that what
// they accept re-encodes to the same thing.

func FuzzParseRSAKey(f *testing.F) {
	k := testKeys()
	for _, pub := range []any{&k.rsa.PublicKey, &k.rsa2.PublicKey} {
		_, raw, _ := MarshalPublicKey(pub)
		f.Add(raw)
	}
	f.Add([]byte{0, 1, 0})
	f.Add([]byte{1, 3, 0xc1})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseRSAKey(b)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		back, err := MarshalRSAKey(k)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("accepted key does not re-encode to its input: %v", err)
		}
	})
}

// FuzzParseTXT takes the character-strings of a TXT record joined by NUL.
func FuzzParseTXT(f *testing.F) {
	key := base64.StdEncoding.EncodeToString(mustMarshal(f, &testKeys().rsa.PublicKey))
	f.Add("X-IPsec-Server(10)=198.18.0.1 " + key)
	f.Add("X-IPsec-Server(0x10)=@gw.example.com 0s" + key)
	f.Add("X-IPsec-Server(10)=198.18.0.1 \x00" + strings.Join(chunks(key, 240), "\x00"))
	f.Add(strings.Join(chunks("X-IPsec-Server(65535)=2001:db8::1 "+key, 255), "\x00"))
	f.Add("x-ipsec-server ( 1 ) = 198.18.0.1")
	f.Add("v=spf1 -all")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTXT(strings.Split(s, "\x00"))
		if err != nil {
			return
		}
		if r.Precedence < 0 || r.Precedence > 0xffff || r.Gateway.Kind == GatewayNone {
			t.Fatalf("accepted out-of-range record %+v", r)
		}
		strs, err := FormatTXT(r)
		if err != nil {
			t.Fatalf("accepted record does not format: %v", err)
		}
		again, err := ParseTXT(strs)
		if err != nil || again.Precedence != r.Precedence || again.Gateway != r.Gateway ||
			(again.Key == nil) != (r.Key == nil) || r.Key != nil && !again.Key.Equal(r.Key) {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, again, err)
		}
	})
}

// FuzzParseIPSECKEY takes IPSECKEY RDATA as it comes off the wire.
func FuzzParseIPSECKEY(f *testing.F) {
	k := testKeys()
	for _, spec := range []RecordSpec{
		{Name: "a.example", Precedence: 10, PublicKey: &k.rsa.PublicKey},
		{Name: "a.example", Precedence: 20, Gateway: Gateway{Kind: GatewayName, Name: "gw.example."}, PublicKey: k.ed.Public()},
		{Name: "a.example", Precedence: 30, Gateway: mustGatewayF(f, "2001:db8::9"), PublicKey: &k.p256.PublicKey},
		{Name: "a.example", Precedence: 40, Gateway: mustGatewayF(f, "198.18.0.9"), PublicKey: &k.p384.PublicKey},
	} {
		rr, err := IPSECKEYRecord(spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rdata(f, rr))
	}
	f.Add([]byte{10, 0, 0})
	f.Add([]byte{10, 7, 2, 1, 2, 3})
	f.Fuzz(func(t *testing.T, rd []byte) {
		var b cryptobyte.Builder
		b.AddUint8(0) // root owner name
		b.AddUint16(dns.TypeIPSECKEY)
		b.AddUint16(dns.ClassINET)
		b.AddUint32(300)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(rd) })
		wire, err := b.Bytes()
		if err != nil {
			return // RDATA over 65535 octets
		}
		rr, _, err := dns.UnpackRR(wire, 0)
		if err != nil {
			return
		}
		ik, ok := rr.(*dns.IPSECKEY)
		if !ok {
			return
		}
		pk, err := ParseIPSECKEY(ik)
		if err != nil {
			return
		}
		again, err := IPSECKEYRecord(RecordSpec{Name: "a.example", Precedence: pk.Precedence, Gateway: pk.Gateway, PublicKey: pk.PublicKey})
		if err != nil {
			t.Fatalf("accepted record does not re-encode: %v", err)
		}
		pk2, err := ParseIPSECKEY(mustRR(t, again.String()).(*dns.IPSECKEY))
		if err != nil || pk2.Gateway != pk.Gateway || pk2.Precedence != pk.Precedence || Fingerprint(pk2.PublicKey) != Fingerprint(pk.PublicKey) {
			t.Fatalf("round trip through the zone-file form changed %+v into %+v (%v)", pk, pk2, err)
		}
	})
}

func mustMarshal(t testing.TB, pub any) []byte {
	_, raw, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func mustGatewayF(t testing.TB, s string) Gateway { return mustGateway(t, s) }

func rdata(t testing.TB, rr dns.RR) []byte {
	buf := make([]byte, dns.Len(rr)+64)
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := off - int(rr.Header().Rdlength)
	return buf[hdrLen:off]
}

// FuzzAnswer feeds whole DNS responses, as a server could send them, to the
// code that turns them into keys: CNAME chains, owner checks, record
// parsing, negative TTLs.
func FuzzAnswer(f *testing.F) {
	k := testKeys()
	m := new(dns.Msg)
	m.SetQuestion(target, dns.TypeIPSECKEY)
	m.Response = true
	for _, s := range []string{
		target + " 300 IN CNAME x.example.",
		"x.example. 60 IN IPSECKEY 10 0 2 . " + b64key(f, &k.rsa.PublicKey),
		target + " 300 IN IPSECKEY 20 3 4 gw.example. " + b64key(f, k.ed.Public()),
		target + ` 300 IN TXT "X-IPsec-Server(10)=198.18.0.1 ` + b64key(f, &k.rsa2.PublicKey) + `"`,
		target + " 300 IN KEY 16896 4 1 " + b64key(f, &k.rsa.PublicKey),
	} {
		m.Answer = append(m.Answer, mustRR(f, s))
	}
	m.Ns = append(m.Ns, mustRR(f, "example. 300 IN SOA ns.example. h.example. 1 2 3 4 5"))
	for _, qt := range []uint16{dns.TypeIPSECKEY, dns.TypeTXT, dns.TypeKEY} {
		m.Question[0].Qtype = qt
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r, err := New(Config{Servers: []string{"127.0.0.1"}, Clock: clocktest.New()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := new(dns.Msg)
		if resp.Unpack(b) != nil || len(resp.Question) != 1 {
			return
		}
		q := resp.Question[0]
		a := r.answerFrom(cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype}, resp, r.cfg.Clock.Now())
		for _, pk := range a.keys() {
			if pk.Record == "" || pk.Source == 0 {
				t.Fatalf("key without record or source: %+v", pk)
			}
		}
		for _, s := range a.skipped() {
			if s.Record == "" || s.Reason == "" {
				t.Fatalf("skipped record without record or reason: %+v", s)
			}
		}
		if !a.noCache && !a.expires.After(r.cfg.Clock.Now()) {
			t.Fatalf("cacheable answer already expired: %+v", a)
		}
	})
}

func FuzzParseKEY(f *testing.F) {
	_, raw, _ := MarshalPublicKey(&testKeys().rsa.PublicKey)
	f.Add(uint16(0x4200), uint8(4), uint8(1), raw)
	f.Add(uint16(0x8000), uint8(4), uint8(1), []byte{1})
	f.Fuzz(func(t *testing.T, flags uint16, proto, alg uint8, key []byte) {
		rr := &dns.KEY{}
		rr.Hdr = dns.RR_Header{Name: target, Rrtype: dns.TypeKEY, Class: dns.ClassINET, Ttl: 300}
		rr.Flags, rr.Protocol, rr.Algorithm = flags, proto, alg
		rr.PublicKey = base64.StdEncoding.EncodeToString(key)
		pk, err := ParseKEY(rr)
		if err != nil {
			return
		}
		if proto != 4 || flags&0xBCF0 != 0 || pk.PublicKey == nil {
			t.Fatalf("accepted KEY flags 0x%04x protocol %d", flags, proto)
		}
	})
}
