package ike

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// RFC 7748 §6.1.
func TestX25519Vector(t *testing.T) {
	a, err := newDHPrivateFromBytes(DHCurve25519, unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(a.Public()); got != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Errorf("Alice's public %s", got)
	}
	s, err := a.SharedSecret(unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
	if err != nil || hex.EncodeToString(s) != "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" {
		t.Errorf("shared %x %v", s, err)
	}
	// RFC 8031 §2.1 / RFC 7748: the all-zero result is refused.
	if _, err := a.SharedSecret(make([]byte, 32)); !errors.Is(err, ErrInvalidKE) {
		t.Errorf("low-order point: %v", err)
	}
	if _, err := a.SharedSecret(make([]byte, 31)); !errors.Is(err, ErrInvalidKE) {
		t.Errorf("short value: %v", err)
	}
}

// RFC 5903 §8.1 (256-bit random ECP group): the KE data is x | y without
// the SEC1 prefix and the shared secret is the x coordinate only.
func TestECP256Vector(t *testing.T) {
	i, err := newDHPrivateFromBytes(DHECP256, unhex(t, "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433"))
	if err != nil {
		t.Fatal(err)
	}
	wantI := "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180" + "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3"
	if got := hex.EncodeToString(i.Public()); got != wantI {
		t.Errorf("g^i %s, want %s", got, wantI)
	}
	r, _ := newDHPrivateFromBytes(DHECP256, unhex(t, "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53"))
	wantR := "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63" + "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab"
	if got := hex.EncodeToString(r.Public()); got != wantR {
		t.Errorf("g^r %s, want %s", got, wantR)
	}
	s, err := i.SharedSecret(unhex(t, wantR))
	if err != nil || hex.EncodeToString(s) != "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de" {
		t.Errorf("g^ir %x %v", s, err)
	}
	// A point off the curve is refused.
	bad := unhex(t, wantR)
	bad[63] ^= 1
	if _, err := i.SharedSecret(bad); !errors.Is(err, ErrInvalidKE) {
		t.Errorf("off-curve point: %v", err)
	}
}

func TestDHPublicLengths(t *testing.T) {
	for g, n := range map[DHGroup]int{DHCurve25519: 32, DHECP256: 64, DHECP384: 96, DHECP521: 132, DHMODP2048: 256, DHMODP3072: 384, DHMODP4096: 512} {
		k, err := GenerateDH(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.Public()) != n || g.PublicLen() != n {
			t.Errorf("%v: public %d octets, want %d", g, len(k.Public()), n)
		}
	}
	if _, err := GenerateDH(DHGroup(5), nil); err == nil {
		t.Errorf("MODP1536 accepted")
	}
}

// The MODP primes are the RFC 3526 safe primes: right size, the fixed
// 64-bit ends, p and (p-1)/2 prime, and 2 generating the q-order subgroup
// (p ≡ 23 mod 24).
func TestMODPPrimes(t *testing.T) {
	for g, bits := range map[DHGroup]int{DHMODP2048: 2048, DHMODP3072: 3072, DHMODP4096: 4096} {
		p := modpPrime(g)
		h := p.Text(16)
		if p.BitLen() != bits || !strings.HasPrefix(h, "ffffffffffffffffc90fdaa22168c234") || !strings.HasSuffix(h, "ffffffffffffffff") {
			t.Errorf("%v: %d bits", g, p.BitLen())
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(1) || !q.ProbablyPrime(1) {
			t.Errorf("%v: not a safe prime", g)
		}
		if new(big.Int).Mod(p, big.NewInt(24)).Int64() != 23 {
			t.Errorf("%v: p mod 24 != 23", g)
		}
	}
}

// MODP public values are validated: 1 < y < p-1 and exactly the prime's
// length.
func TestMODPValidation(t *testing.T) {
	k, err := GenerateDH(DHMODP2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := modpPrime(DHMODP2048)
	pad := func(x *big.Int) []byte { return x.FillBytes(make([]byte, 256)) }
	for name, v := range map[string][]byte{
		"zero":  make([]byte, 256),
		"one":   pad(big.NewInt(1)),
		"p-1":   pad(new(big.Int).Sub(p, big.NewInt(1))),
		"p":     pad(p),
		"short": pad(big.NewInt(2))[1:],
		"ones":  bytes.Repeat([]byte{0xff}, 256),
	} {
		if _, err := k.SharedSecret(v); !errors.Is(err, ErrInvalidKE) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Shared secrets keep leading zeros (padded to the prime length).
	s, err := k.SharedSecret(pad(big.NewInt(2)))
	if err != nil || len(s) != 256 {
		t.Errorf("g=2: %d octets %v", len(s), err)
	}
}

// TestDHGroupsImplemented: the groups the wire format gives a KE length
// (and so calls supported) are exactly those ike has a curve, prime or
// KEM for.
func TestDHGroupsImplemented(t *testing.T) {
	for g := DHGroup(0); g < 256; g++ {
		_, kemErr := generateKEM(g)
		if have := dhCurve(g) != nil || modpPrime(g) != nil || kemErr == nil; have != g.Supported() {
			t.Errorf("%v: Supported() = %v, but ike has arithmetic: %v", g, g.Supported(), have)
		}
	}
}
