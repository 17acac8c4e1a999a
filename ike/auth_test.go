package ike

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// AlgorithmIdentifier encodings of RFC 7427 Appendix A / RFC 8420: the DER
// of the RFC 4055 structures (RSASSA-PSS with SHA-256, MGF1-SHA-256 and a
// 32-octet salt), which are also what strongSwan sends.
func TestAlgorithmIdentifierVectors(t *testing.T) {
	for s, want := range map[SignatureScheme]string{
		SigEd25519:         "300506032b6570",
		SigRSAPSSSHA256:    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
		SigRSAPKCS1SHA256:  "300d06092a864886f70d01010b0500",
		SigECDSAP256SHA256: "300a06082a8648ce3d040302",
		SigECDSAP384SHA384: "300a06082a8648ce3d040303",
		SigECDSAP521SHA512: "300a06082a8648ce3d040304",
		SigRSAPKCS1SHA384:  "300d06092a864886f70d01010c0500",
		SigRSAPKCS1SHA512:  "300d06092a864886f70d01010d0500",
	} {
		got, err := s.AlgorithmIdentifier()
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("%v: %x %v, want %s", s, got, err, want)
		}
		back, err := parseAlgorithmIdentifier(got)
		if err != nil || back.scheme != s {
			t.Errorf("%v: parsed back as %v %v", s, back.scheme, err)
		}
	}
	for _, s := range []SignatureScheme{SigRSAPSSSHA384, SigRSAPSSSHA512} {
		der, _ := s.AlgorithmIdentifier()
		back, err := parseAlgorithmIdentifier(der)
		if err != nil || back.scheme != s || back.salt != sigSchemes[s].hash.Size() {
			t.Errorf("%v: %+v %v", s, back, err)
		}
	}
	if _, err := SigRSAPKCS1SHA1.AlgorithmIdentifier(); err == nil {
		t.Errorf("method 1 has an algorithm identifier")
	}
}

var (
	testKeysOnce sync.Once
	testSigners  map[string]crypto.Signer
)

func signers(t testing.TB) map[string]crypto.Signer {
	testKeysOnce.Do(func() {
		testSigners = map[string]crypto.Signer{}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testSigners["rsa"] = r
		for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()} {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			testSigners[name] = k
		}
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		testSigners["ed25519"] = ed
	})
	return testSigners
}

var schemeKeys = map[SignatureScheme]string{
	SigRSAPKCS1SHA1: "rsa", SigRSAPKCS1SHA256: "rsa", SigRSAPKCS1SHA384: "rsa", SigRSAPKCS1SHA512: "rsa",
	SigRSAPSSSHA256: "rsa", SigRSAPSSSHA384: "rsa", SigRSAPSSSHA512: "rsa",
	SigECDSAP256SHA256: "p256", SigECDSAP384SHA384: "p384", SigECDSAP521SHA512: "p521", SigEd25519: "ed25519",
}

func TestSignVerify(t *testing.T) {
	keys := signers(t)
	msg := bytes.Repeat([]byte("signed octets "), 40)
	for s, kn := range schemeKeys {
		a, err := signAuth(keys[kn], s, msg, nil)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		wantMethod := AuthDigitalSignature
		if s == SigRSAPKCS1SHA1 {
			wantMethod = AuthRSASignature
		} else {
			alg, _ := s.AlgorithmIdentifier()
			if int(a.Data[0]) != len(alg) || !bytes.Equal(a.Data[1:1+len(alg)], alg) {
				t.Errorf("%v: AUTH data does not start with its algorithm identifier", s)
			}
		}
		if a.Method != wantMethod {
			t.Errorf("%v: method %v", s, a.Method)
		}
		got, err := verifyAuth(a, keys[kn].Public(), msg)
		if err != nil || got != s {
			t.Errorf("%v: verify: %v %v", s, got, err)
		}
		// Altered octets, altered signature, another key: all fail.
		if _, err := verifyAuth(a, keys[kn].Public(), append([]byte{0}, msg...)); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%v: other octets: %v", s, err)
		}
		bad := &wire.Auth{Method: a.Method, Data: append([]byte(nil), a.Data...)}
		bad.Data[len(bad.Data)-3] ^= 1
		if _, err := verifyAuth(bad, keys[kn].Public(), msg); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%v: altered signature: %v", s, err)
		}
		other := "ed25519"
		if kn == "ed25519" {
			other = "p256"
		}
		if _, err := verifyAuth(a, keys[other].Public(), msg); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%v: verified with a %s key: %v", s, other, err)
		}
		// The accepted list restricts method 14.
		if s != SigRSAPKCS1SHA1 {
			if _, err := verifyAuth(a, keys[kn].Public(), msg, SigEd25519, SigRSAPKCS1SHA1); s != SigEd25519 && !errors.Is(err, ErrAuthentication) {
				t.Errorf("%v: not in accepted list: %v", s, err)
			}
		}
		// Wrong key type for the scheme.
		if _, err := signAuth(keys[other], s, msg, nil); err == nil {
			t.Errorf("%v: signed with a %s key", s, other)
		}
	}
}

// A PSS signature whose parameters are not the ones we send (salt 20,
// SHA-512) still verifies: we read the parameters from the AUTH payload.
func TestVerifyPSSParameters(t *testing.T) {
	k := signers(t)["rsa"].(*rsa.PrivateKey)
	msg := []byte("octets")
	var b cryptobyte.Builder
	hashAlg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA512); b.AddASN1NULL() })
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(tagPSSHash, hashAlg)
			b.AddASN1(tagPSSMGF, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidMGF1); hashAlg(b) })
			})
			b.AddASN1(tagPSSSalt, func(b *cryptobyte.Builder) { b.AddASN1Int64(20) })
		})
	})
	alg := b.BytesOrPanic()
	d := crypto.SHA512.New()
	d.Write(msg)
	sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA512, d.Sum(nil), &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	a := &wire.Auth{Method: AuthDigitalSignature, Data: append(append([]byte{byte(len(alg))}, alg...), sig...)}
	if s, err := verifyAuth(a, k.Public(), msg); err != nil || s != SigRSAPSSSHA512 {
		t.Errorf("salt 20: %v %v", s, err)
	}
	// PSS with the SHA-1 defaults (empty parameters) is refused.
	var b2 cryptobyte.Builder
	b2.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {})
	})
	alg2 := b2.BytesOrPanic()
	a2 := &wire.Auth{Method: AuthDigitalSignature, Data: append(append([]byte{byte(len(alg2))}, alg2...), sig...)}
	if _, err := verifyAuth(a2, k.Public(), msg); !errors.Is(err, ErrAuthentication) {
		t.Errorf("PSS with SHA-1 defaults: %v", err)
	}
	for _, bad := range [][]byte{{}, {5, 1, 2}, {0}, {3, 0x30, 0x01, 0x00, 0xff}} {
		if _, err := verifyAuth(&wire.Auth{Method: AuthDigitalSignature, Data: bad}, k.Public(), msg); !errors.Is(err, ErrAuthentication) && err == nil {
			t.Errorf("AUTH data %x accepted", bad)
		}
	}
}

func TestChooseSignatureScheme(t *testing.T) {
	keys := signers(t)
	all := []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity}
	for _, tc := range []struct {
		key    string
		hashes []HashAlgorithm
		method AuthMethod
		scheme SignatureScheme
		fail   bool
	}{
		{"rsa", all, AuthDigitalSignature, SigRSAPSSSHA256, false},
		{"rsa", []HashAlgorithm{HashSHA2_512}, AuthDigitalSignature, SigRSAPSSSHA512, false},
		{"rsa", nil, AuthRSASignature, SigRSAPKCS1SHA1, false},
		{"p256", all, AuthDigitalSignature, SigECDSAP256SHA256, false},
		{"p384", all, AuthDigitalSignature, SigECDSAP384SHA384, false},
		{"p521", []HashAlgorithm{HashSHA2_256}, 0, 0, true},
		{"ed25519", all, AuthDigitalSignature, SigEd25519, false},
		{"ed25519", []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512}, 0, 0, true}, // Libreswan 4.10
	} {
		m, s, err := ChooseSignatureScheme(keys[tc.key].Public(), tc.hashes)
		if (err != nil) != tc.fail || m != tc.method || s != tc.scheme {
			t.Errorf("%s %v: %v %v %v", tc.key, tc.hashes, m, s, err)
		}
	}
	n := signatureHashNotify()
	hs, err := parseSignatureHashes(n)
	if err != nil || len(hs) != 4 || hex.EncodeToString(n.Data) != "0002000300040005" {
		t.Errorf("notify %x %v %v", n.Data, hs, err)
	}
}

// TestAuthExchange runs the AUTH computation of both sides of an IKE SA
// (RFC 7296 §2.15) for every method: PSK, NULL, and the signatures.
func TestAuthExchange(t *testing.T) {
	suite := IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_256, DH: DHCurve25519}
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	initMsg, respMsg := []byte("IKE_SA_INIT request octets"), []byte("IKE_SA_INIT response octets")
	k, err := suite.DeriveIKEKeys(bytes.Repeat([]byte{9}, 32), ni, nr, SPI{1}, SPI{2})
	if err != nil {
		t.Fatal(err)
	}
	idi, idr := NullIdentity(), NullIdentity()
	// Each side computes the other's octets from what it received.
	iOctets := SignedOctets(suite.PRF, initMsg, nr, k.SKpi, idi)
	rOctets := SignedOctets(suite.PRF, respMsg, ni, k.SKpr, idr)
	if !bytes.HasPrefix(iOctets, initMsg) || len(iOctets) != len(initMsg)+32+32 {
		t.Errorf("signed octets layout: %d octets", len(iOctets))
	}
	// prf(SK_pi, RestOfIDPayload) is over type | 3 reserved | data.
	mac := hmac.New(sha256.New, k.SKpi)
	mac.Write([]byte{13, 0, 0, 0})
	if !bytes.HasSuffix(iOctets, mac.Sum(nil)) {
		t.Errorf("MACedIDForI wrong")
	}

	// NULL (13): keyed by SK_pi / SK_pr.
	nullI := SharedKeyAuth(suite.PRF, k.SKpi, iOctets)
	if err := VerifySharedKeyAuth(suite.PRF, k.SKpi, iOctets, nullI); err != nil {
		t.Error(err)
	}
	if err := VerifySharedKeyAuth(suite.PRF, k.SKpr, iOctets, nullI); !errors.Is(err, ErrAuthentication) {
		t.Errorf("NULL AUTH verified with SK_pr: %v", err)
	}
	// PSK (2): prf(prf(psk, "Key Pad for IKEv2"), octets).
	psk := []byte("secret")
	inner := hmac.New(sha256.New, psk)
	inner.Write([]byte("Key Pad for IKEv2"))
	outer := hmac.New(sha256.New, inner.Sum(nil))
	outer.Write(rOctets)
	if got := SharedKeyAuth(suite.PRF, psk, rOctets); !bytes.Equal(got, outer.Sum(nil)) {
		t.Errorf("PSK AUTH %x", got)
	}
	// Signatures over the responder's octets.
	for s, kn := range schemeKeys {
		a, err := signAuth(signers(t)[kn], s, rOctets, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifyAuth(a, signers(t)[kn].Public(), rOctets); err != nil {
			t.Errorf("%v: %v", s, err)
		}
		if _, err := verifyAuth(a, signers(t)[kn].Public(), iOctets); err == nil {
			t.Errorf("%v: responder signature verified over initiator octets", s)
		}
	}
}
