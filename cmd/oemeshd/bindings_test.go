package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
)

func edRdata(t *testing.T, prefix string) (string, ed25519.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + " " + base64.StdEncoding.EncodeToString(pub), pub
}

// TestReadBindRequest: a request is read with dnskey's rules; a record
// that does not parse is skipped with its reason, and a request with no
// usable record, no address or a bad name is refused saying which.
func TestReadBindRequest(t *testing.T) {
	good, _ := edRdata(t, "10 0 4 .")
	gw, _ := edRdata(t, "20 1 4 198.18.0.5")
	a, err := readBindRequest(control.BindRequest{Name: "B.Example", TTLSeconds: 300,
		Addrs: []string{"198.18.0.2", "2001:db8:1::2"}, IPSECKEYs: []string{good, gw, "10 0 1 . AAAA"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.name != "b.example." || len(a.addrs) != 2 || len(a.keys) != 2 || len(a.skipped) != 1 || a.ttl.Seconds() != 300 {
		t.Fatalf("read %+v", a)
	}
	if a.keys[1].Gateway.String() != "198.18.0.5" || !strings.Contains(a.skipped[0].Reason, "DSA") {
		t.Errorf("keys %+v, skipped %+v", a.keys, a.skipped)
	}
	for _, tc := range []struct {
		req  control.BindRequest
		want string
	}{
		{control.BindRequest{Name: "", Addrs: []string{"198.18.0.2"}, IPSECKEYs: []string{good}}, "name: ID \"@\""},
		{control.BindRequest{Name: "b.example.", IPSECKEYs: []string{good}}, "b.example.: no addresses"},
		{control.BindRequest{Name: "b.example.", Addrs: []string{"b.example"}, IPSECKEYs: []string{good}}, `"b.example" is not an IPv4 or IPv6 address`},
		{control.BindRequest{Name: "b.example.", Addrs: []string{"198.18.0.2"}}, "no IPSECKEY records"},
		{control.BindRequest{Name: "b.example.", Addrs: []string{"198.18.0.2"}, IPSECKEYs: []string{"10 0 1 . AAAA"}}, `no usable IPSECKEY record; skipped "10 0 1 . AAAA"`},
	} {
		_, err := readBindRequest(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
}

// TestVouch: under dns.require_dnssec a handed-over record counts only
// when the validated look-up holds the same key with the same gateway.
func TestVouch(t *testing.T) {
	r1, _ := edRdata(t, "10 0 4 .")
	r2, _ := edRdata(t, "20 0 4 .")
	a, err := readBindRequest(control.BindRequest{Name: "b.example.", Addrs: []string{"198.18.0.2"}, IPSECKEYs: []string{r1, r2}})
	if err != nil {
		t.Fatal(err)
	}
	validated := a.keys[0]
	validated.Secure = true
	insecure := a.keys[1] // in the answer, but without the AD bit
	a.vouch(dnskey.Result{Keys: []dnskey.PeerKey{validated, insecure}})
	if len(a.keys) != 1 || !a.keys[0].Secure || a.keys[0].Fingerprint() != validated.Fingerprint() {
		t.Fatalf("kept %+v", a.keys)
	}
	if len(a.skipped) != 1 || !strings.Contains(a.skipped[0].Reason, "dns.require_dnssec") {
		t.Errorf("skipped %+v", a.skipped)
	}
}
