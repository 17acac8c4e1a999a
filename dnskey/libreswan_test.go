package dnskey

import (
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const ipsecBin = "/usr/sbin/ipsec" // Libreswan, installed by scripts/install-peers.sh

// Libreswan publishes keys with `ipsec showhostkey --ipseckey` (RSA and
// ECDSA) and writes them in config files as 0s base64. What it prints must
// parse here to the very key it holds (its --pem output).
func TestLibreswanShowhostkey(t *testing.T) {
	if testing.Short() {
		t.Skip("Libreswan interop: skipped under -short")
	}
	if _, err := exec.LookPath(ipsecBin); err != nil {
		t.Fatalf("%s is missing: run `make deps` (scripts/install-peers.sh installs libreswan)", ipsecBin)
	}
	nss := t.TempDir()
	ipsec := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(ipsecBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipsec %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ipsec("initnss", "--nssdir", nss)
	ipsec("newhostkey", "--nssdir", nss, "--bits", "2192") // its minimum
	ipsec("newhostkey", "--nssdir", nss, "--keytype", "ecdsa")
	list := ipsec("showhostkey", "--nssdir", nss, "--list")
	ckaids := regexp.MustCompile(`(RSA|ECDSA) keyid: \S+ ckaid: ([0-9a-f]+)`).FindAllStringSubmatch(list, -1)
	if len(ckaids) != 2 {
		t.Fatalf("want an RSA and an ECDSA key in:\n%s", list)
	}
	for _, m := range ckaids {
		kind, ckaid := m[1], m[2]
		block, _ := pem.Decode([]byte(ipsec("showhostkey", "--nssdir", nss, "--pem", "--ckaid", ckaid)))
		if block == nil {
			t.Fatalf("%s: no PEM from showhostkey --pem", kind)
		}
		want, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}

		// The IPSECKEY line, with its owner (the host name) replaced.
		line := strings.TrimSpace(ipsec("showhostkey", "--nssdir", nss, "--ipseckey", "--ckaid", ckaid,
			"--gateway", "198.18.0.9", "--precedence", "20"))
		_, rdata, ok := strings.Cut(line, "IPSECKEY")
		if !ok {
			t.Fatalf("%s: no IPSECKEY in %q", kind, line)
		}
		rr, err := dns.NewRR(target + " 300 IN IPSECKEY " + strings.TrimSpace(rdata))
		if err != nil {
			t.Fatalf("%s: Libreswan's record does not parse: %v\n%s", kind, err, line)
		}
		pk, err := ParseIPSECKEY(rr.(*dns.IPSECKEY))
		if err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, line)
		}
		if Fingerprint(pk.PublicKey) != Fingerprint(want) || pk.Gateway.String() != "198.18.0.9" || pk.Precedence != 20 {
			t.Fatalf("%s: IPSECKEY read as %s gw %s prec %d; want key %s", kind, pk.Fingerprint(), pk.Gateway, pk.Precedence, Fingerprint(want))
		}
		// Our own record for that key is byte-identical in its rdata.
		ours, err := IPSECKEYRecord(RecordSpec{Name: target, TTL: 300, Precedence: 20, Gateway: pk.Gateway, PublicKey: want})
		if err != nil || !dns.IsDuplicate(ours, rr) {
			t.Fatalf("%s: our record differs from Libreswan's:\n%s\n%s", kind, ours, rr)
		}

		// The config-file form: leftrsasigkey=0s… / leftecdsakey=0s….
		left := ipsec("showhostkey", "--nssdir", nss, "--left", "--ckaid", ckaid)
		m := regexp.MustCompile(`left(rsasig|ecdsa)key=(0s\S+)`).FindStringSubmatch(left)
		if m == nil {
			t.Fatalf("%s: no leftrsasigkey/leftecdsakey in:\n%s", kind, left)
		}
		if kind == "RSA" {
			r, err := ParseTXT([]string{"X-IPsec-Server(10)=198.18.0.9 " + m[2]})
			if err != nil || Fingerprint(r.Key) != Fingerprint(want) {
				t.Fatalf("RSA 0s key in a TXT record: %v", err)
			}
		} else if strings.TrimPrefix(m[2], "0s") != strings.Fields(rdata)[4] {
			t.Fatalf("ECDSA 0s key %s differs from the IPSECKEY key", m[2])
		}
	}
}
