package ike

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestUpdateAfterAddKECAVS checks the RFC 9370 key update against the NIST
// CAVS IKEv2 vector of keys_test.go: SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni |
// Nr) is the formula of CAVS's SKEYSEED(Rekey) with the same Ni and Nr, so
// with SK(1) = g^ir (new) the updated keys must come from prf+(SKEYSEED(Rekey),
// Ni | Nr | SPIi | SPIr).
func TestUpdateAfterAddKECAVS(t *testing.T) {
	ni, nr := unhex(t, cavsNi), unhex(t, cavsNr)
	var spii, spir SPI
	copy(spii[:], unhex(t, cavsSPIi))
	copy(spir[:], unhex(t, cavsSPIr))
	suite := IKESuite{Encr: EncrAlg{EncrAESCBC, 128}, PRF: PRFHMACSHA1, Integ: IntegHMACSHA2_256_128}
	k0, err := suite.DeriveIKEKeys(SKEYSEED(PRFHMACSHA1, ni, nr, unhex(t, cavsGir)), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	before := bytes.Join([][]byte{k0.SKd, k0.SKai, k0.SKar, k0.SKei, k0.SKer, k0.SKpi, k0.SKpr}, nil)

	k1, err := k0.UpdateAfterAddKE(unhex(t, cavsGirNew), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	seed := append(append(append(append([]byte{}, ni...), nr...), spii[:]...), spir[:]...)
	dkm, err := prfPlus(PRFHMACSHA1, unhex(t, cavsRekey), seed, 3*20+2*32+2*16)
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Join([][]byte{k1.SKd, k1.SKai, k1.SKar, k1.SKei, k1.SKer, k1.SKpi, k1.SKpr}, nil)
	if !bytes.Equal(got, dkm) {
		t.Errorf("keys after the update\n%x\nwant prf+(SKEYSEED(Rekey), Ni | Nr | SPIi | SPIr)\n%x", got, dkm)
	}
	if k1.Suite != suite {
		t.Errorf("suite changed to %v", k1.Suite)
	}
	if after := bytes.Join([][]byte{k0.SKd, k0.SKai, k0.SKar, k0.SKei, k0.SKer, k0.SKpi, k0.SKpr}, nil); !bytes.Equal(after, before) {
		t.Error("the update changed the keys in force before it")
	}
}

// TestUpdateAfterAddKEChain checks that each update starts from the
// previous SK_d and takes in its own secret: two additional exchanges give
// SKEYSEED(2) = prf(SK_d(1), SK(2) | Ni | Nr), and a different SK(n) or a
// different nonce gives different keys.
func TestUpdateAfterAddKEChain(t *testing.T) {
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	spii, spir := SPI{1, 2, 3, 4, 5, 6, 7, 8}, SPI{8, 7, 6, 5, 4, 3, 2, 1}
	suite := IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_384}
	k0, err := suite.DeriveIKEKeys(SKEYSEED(suite.PRF, ni, nr, []byte("g^ir")), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	sk1, sk2 := bytes.Repeat([]byte{0xa1}, 32), bytes.Repeat([]byte{0xb2}, 32)
	k1, err := k0.UpdateAfterAddKE(sk1, ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := k1.UpdateAfterAddKE(sk2, ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := suite.DeriveIKEKeys(suite.PRF.Compute(k1.SKd, sk2, ni, nr), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k2.SKd, want.SKd) || !bytes.Equal(k2.SKei, want.SKei) || !bytes.Equal(k2.SKpr, want.SKpr) {
		t.Errorf("SK_d(2) %s, want %s", hex.EncodeToString(k2.SKd), hex.EncodeToString(want.SKd))
	}
	if len(k2.SKei) != 36 || len(k2.SKai) != 0 || len(k2.SKpi) != 48 {
		t.Errorf("key lengths ei=%d ai=%d pi=%d, want 36, 0, 48 for AES-256-GCM with PRF-HMAC-SHA2-384", len(k2.SKei), len(k2.SKai), len(k2.SKpi))
	}
	for _, other := range []struct {
		name           string
		secret, ni, nr []byte
	}{
		{"another secret", sk2, ni, nr},
		{"another Ni", sk1, nr, nr},
		{"another Nr", sk1, ni, ni},
	} {
		o, err := k0.UpdateAfterAddKE(other.secret, other.ni, other.nr, spii, spir)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(o.SKd, k1.SKd) || bytes.Equal(o.SKei, k1.SKei) {
			t.Errorf("%s gave the same keys", other.name)
		}
	}
}

func TestUpdateAfterAddKERefusals(t *testing.T) {
	suite := IKESuite{Encr: EncrAlg{EncrAESGCM16, 128}, PRF: PRFHMACSHA2_256}
	k, err := suite.DeriveIKEKeys([]byte("seed"), []byte("ni"), []byte("nr"), SPI{1}, SPI{2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.UpdateAfterAddKE(nil, []byte("ni"), []byte("nr"), SPI{1}, SPI{2}); err == nil {
		t.Error("an empty shared secret was accepted")
	}
	if _, err := (&IKEKeys{Suite: suite}).UpdateAfterAddKE([]byte("s"), nil, nil, SPI{}, SPI{}); err == nil {
		t.Error("keys without SK_d were updated")
	}
	if _, err := (&IKEKeys{Suite: IKESuite{PRF: 99}, SKd: []byte("d")}).UpdateAfterAddKE([]byte("s"), nil, nil, SPI{}, SPI{}); err == nil {
		t.Error("an unknown PRF was accepted")
	}
}
