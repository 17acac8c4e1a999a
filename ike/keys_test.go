package ike

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// NIST CAVS IKEv2 KDF example (PRF HMAC-SHA1), as reproduced in a comment of
// Libreswan's ikev2-KDF CAVS helper (search the Libreswan tree for
// "libreswan-ikev2-cavs -g 4b2c"); its fields are those of NIST CAVP's
// "IKE v2" .rsp files.
const (
	cavsGir      = "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52"
	cavsGirNew   = "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330"
	cavsNi       = "32b50d5f4a3763f3"
	cavsNr       = "9206a04b26564cb1"
	cavsSPIi     = "34c9e7c188868785"
	cavsSPIr     = "3ff77d760d2b2199"
	cavsSKEYSEED = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7"
	cavsDKM      = "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435a7a56cc4"
	cavsChild    = "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e664994d234cb4"
	// Only this prefix of DKM(Child SA D-H) is in the reference.
	cavsChildDHPrefix = "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31"
	cavsRekey         = "63e81194946ebd05df7df5ebf5d8750056bf1f1d"
)

func TestKDFCAVS(t *testing.T) {
	gir, girNew := unhex(t, cavsGir), unhex(t, cavsGirNew)
	ni, nr := unhex(t, cavsNi), unhex(t, cavsNr)
	var spii, spir SPI
	copy(spii[:], unhex(t, cavsSPIi))
	copy(spir[:], unhex(t, cavsSPIr))

	skeyseed := SKEYSEED(PRFHMACSHA1, ni, nr, gir)
	if got := hex.EncodeToString(skeyseed); got != cavsSKEYSEED {
		t.Fatalf("SKEYSEED %s, want %s", got, cavsSKEYSEED)
	}
	seed := append(append(append(append([]byte{}, ni...), nr...), spii[:]...), spir[:]...)
	dkm, err := prfPlus(PRFHMACSHA1, skeyseed, seed, 132)
	if err != nil || hex.EncodeToString(dkm) != cavsDKM {
		t.Fatalf("DKM %x (%v), want %s", dkm, err, cavsDKM)
	}
	// DeriveIKEKeys takes its keys from the same stream, in RFC order.
	suite := IKESuite{Encr: EncrAlg{EncrAESCBC, 128}, PRF: PRFHMACSHA1, Integ: IntegHMACSHA2_256_128}
	k, err := suite.DeriveIKEKeys(skeyseed, ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	all := bytes.Join([][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}, nil)
	if len(all) != 3*20+2*32+2*16 || !bytes.Equal(all[:132], dkm) {
		t.Errorf("IKE keys do not follow the DKM: %x", all)
	}
	if len(k.SKd) != 20 || len(k.SKai) != 32 || len(k.SKei) != 16 || len(k.SKpr) != 20 {
		t.Errorf("key lengths d=%d ai=%d ei=%d pr=%d", len(k.SKd), len(k.SKai), len(k.SKei), len(k.SKpr))
	}

	skd := dkm[:20]
	child := ChildSuite{Encr: EncrAlg{EncrAESCBC, 256}, Integ: IntegHMACSHA2_512_256}
	ck, err := child.DeriveChildKeys(PRFHMACSHA1, skd, nil, ni, nr)
	if err != nil {
		t.Fatal(err)
	}
	keymat := bytes.Join([][]byte{ck.EncrI, ck.IntegI, ck.EncrR, ck.IntegR}, nil)
	if hex.EncodeToString(keymat[:132]) != cavsChild {
		t.Errorf("DKM(Child SA) %x, want %s", keymat[:132], cavsChild)
	}
	ckDH, err := child.DeriveChildKeys(PRFHMACSHA1, skd, girNew, ni, nr)
	if err != nil {
		t.Fatal(err)
	}
	keymat = bytes.Join([][]byte{ckDH.EncrI, ckDH.IntegI, ckDH.EncrR, ckDH.IntegR}, nil)
	if !bytes.HasPrefix(keymat, unhex(t, cavsChildDHPrefix)) {
		t.Errorf("DKM(Child SA D-H) %x, want prefix %s", keymat, cavsChildDHPrefix)
	}
	if got := hex.EncodeToString(RekeySKEYSEED(PRFHMACSHA1, skd, girNew, ni, nr)); got != cavsRekey {
		t.Errorf("SKEYSEED(Rekey) %s, want %s", got, cavsRekey)
	}
}

// prf+ with HMAC-SHA2-256, key 0x0b*20, seed "Hi There" (strongSwan
// test_prf_plus.c).
func TestPRFPlusVector(t *testing.T) {
	key := bytes.Repeat([]byte{0x0b}, 20)
	want := "b9bdc08988b4c2b75aa93e596ac84205fa2ddde1bf7a2572067b00e14b237732830509981ad2f94a8c32a47daa2255b6"
	got, err := prfPlus(PRFHMACSHA2_256, key, []byte("Hi There"), 48)
	if err != nil || hex.EncodeToString(got) != want {
		t.Errorf("prf+ %x (%v), want %s", got, err, want)
	}
	// Shorter output is a prefix of longer output.
	short, _ := prfPlus(PRFHMACSHA2_256, key, []byte("Hi There"), 7)
	if !bytes.Equal(short, got[:7]) {
		t.Errorf("prf+ is not a stream")
	}
	if _, err := prfPlus(PRFHMACSHA2_256, key, nil, 255*32+1); err == nil {
		t.Errorf("prf+ beyond 255 blocks accepted")
	}
}

// TestPRFPlusAllocsPerCall checks that prf+ allocates per call, not per
// block: every IKE SA and CHILD SA derives its keys with it, several
// blocks each.
func TestPRFPlusAllocsPerCall(t *testing.T) {
	key, seed := make([]byte, 32), make([]byte, 80)
	one := testing.AllocsPerRun(50, func() { prfPlus(PRFHMACSHA2_256, key, seed, 32) })
	many := testing.AllocsPerRun(50, func() { prfPlus(PRFHMACSHA2_256, key, seed, 255*32) })
	if many != one {
		t.Errorf("prf+: %v allocations for 1 block, %v for 255: want the same", one, many)
	}
}

func TestKeyLengths(t *testing.T) {
	for _, tc := range []struct {
		suite               IKESuite
		d, ai, ei, pi, icvs int
	}{
		{IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_512}, 64, 0, 36, 64, 16},
		{IKESuite{Encr: EncrAlg{EncrAESGCM16, 128}, PRF: PRFHMACSHA2_256}, 32, 0, 20, 32, 16},
		{IKESuite{Encr: EncrAlg{EncrChaCha20Poly1305, 0}, PRF: PRFHMACSHA2_384}, 48, 0, 36, 48, 16},
		{IKESuite{Encr: EncrAlg{EncrAESCBC, 256}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_512_256}, 32, 64, 32, 32, 32},
		{IKESuite{Encr: EncrAlg{EncrAESCBC, 128}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_384_192}, 32, 48, 16, 32, 24},
	} {
		k, err := tc.suite.DeriveIKEKeys(make([]byte, tc.suite.PRF.Size()), make([]byte, 32), make([]byte, 32), SPI{1}, SPI{2})
		if err != nil {
			t.Fatalf("%v: %v", tc.suite, err)
		}
		if len(k.SKd) != tc.d || len(k.SKai) != tc.ai || len(k.SKar) != tc.ai || len(k.SKei) != tc.ei || len(k.SKer) != tc.ei || len(k.SKpi) != tc.pi || len(k.SKpr) != tc.pi {
			t.Errorf("%v: lengths d=%d ai=%d ei=%d pi=%d", tc.suite, len(k.SKd), len(k.SKai), len(k.SKei), len(k.SKpi))
		}
		ci, cr, err := k.Ciphers()
		if err != nil {
			t.Fatalf("%v: %v", tc.suite, err)
		}
		if ci.icvLen() != tc.icvs || cr.icvLen() != tc.icvs {
			t.Errorf("%v: ICV %d", tc.suite, ci.icvLen())
		}
	}
	bad := IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_256_128}
	if _, err := bad.DeriveIKEKeys(nil, nil, nil, SPI{}, SPI{}); err == nil {
		t.Errorf("AEAD with INTEG accepted")
	}
}

// Both ends derive the same keys from their own DH halves.
func TestKeyScheduleAgreement(t *testing.T) {
	for _, g := range []DHGroup{DHCurve25519, DHECP256, DHECP384, DHECP521, DHMODP2048, DHMODP3072, DHMODP4096} {
		a, err := GenerateDH(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := GenerateDH(g, nil)
		sa, err := a.SharedSecret(b.Public())
		if err != nil {
			t.Fatalf("%v: %v", g, err)
		}
		sb, err := b.SharedSecret(a.Public())
		if err != nil || !bytes.Equal(sa, sb) {
			t.Fatalf("%v: secrets differ (%v)", g, err)
		}
		suite := IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_256, DH: g}
		ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		ka, _ := suite.DeriveIKEKeys(SKEYSEED(suite.PRF, ni, nr, sa), ni, nr, SPI{1}, SPI{2})
		kb, _ := suite.DeriveIKEKeys(SKEYSEED(suite.PRF, ni, nr, sb), ni, nr, SPI{1}, SPI{2})
		if !bytes.Equal(ka.SKer, kb.SKer) || !bytes.Equal(ka.SKd, kb.SKd) {
			t.Errorf("%v: keys differ", g)
		}
	}
}
