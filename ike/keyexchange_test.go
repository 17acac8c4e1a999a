package ike

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// seededReader is a deterministic randomness source for the MODP groups,
// whose exponent ike draws itself.
func seededReader(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return mrand.NewChaCha8(s)
}

// keyExchangeMethods are the methods ike implements, DH and KEM.
var keyExchangeMethods = []DHGroup{DHMODP2048, DHMODP3072, DHMODP4096, DHECP256, DHECP384, DHECP521,
	DHCurve25519, DHMLKEM768, DHMLKEM1024}

// TestKeyExchangeRoundTrip: through StartKeyExchange and
// RespondKeyExchange, both sides of every method get the same secret, and
// each side's KE data has the length its role sends.
func TestKeyExchangeRoundTrip(t *testing.T) {
	for _, g := range keyExchangeMethods {
		t.Run(g.String(), func(t *testing.T) {
			ini, err := StartKeyExchange(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ini.Group() != g {
				t.Errorf("Group() = %v", ini.Group())
			}
			pub := ini.Public()
			if len(pub) != g.PublicLen() {
				t.Errorf("initiator's KE data: %d octets, want %d", len(pub), g.PublicLen())
			}
			ours, secret, err := RespondKeyExchange(g, pub, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ours) != g.ResponseLen() {
				t.Errorf("responder's KE data: %d octets, want %d", len(ours), g.ResponseLen())
			}
			got, err := ini.SharedSecret(ours)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, secret) {
				t.Errorf("secrets differ:\n initiator %x\n responder %x", got, secret)
			}
			if g.KEM() && len(secret) != mlkem.SharedKeySize {
				t.Errorf("KEM secret of %d octets, want %d", len(secret), mlkem.SharedKeySize)
			}
			// A second exchange gets another secret.
			ini2, _ := StartKeyExchange(g, nil)
			_, secret2, err := RespondKeyExchange(g, ini2.Public(), nil)
			if err != nil || bytes.Equal(secret, secret2) {
				t.Errorf("second exchange: same secret or %v", err)
			}
		})
	}
}

// TestRespondKeyExchangeIsDH: for a DH group the responder's one step is
// exactly what it did before the KeyExchange interface: GenerateDH, then
// SharedSecret, then Public, drawing the same randomness.
func TestRespondKeyExchangeIsDH(t *testing.T) {
	for _, g := range []DHGroup{DHMODP2048, DHMODP3072, DHMODP4096} {
		peer, err := GenerateDH(g, seededReader(1))
		if err != nil {
			t.Fatal(err)
		}
		ours, secret, err := RespondKeyExchange(g, peer.Public(), seededReader(2))
		if err != nil {
			t.Fatal(err)
		}
		old, _ := GenerateDH(g, seededReader(2))
		want, err := old.SharedSecret(peer.Public())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, old.Public()) || !bytes.Equal(secret, want) {
			t.Errorf("%v: RespondKeyExchange differs from GenerateDH+SharedSecret", g)
		}
	}
	if k, err := StartKeyExchange(DHCurve25519, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := k.(*DHPrivate); !ok {
		t.Errorf("StartKeyExchange(%v) = %T, want *DHPrivate", DHCurve25519, k)
	}
}

// TestKEMRejectsBadData: wrong lengths and a malformed encapsulation key
// are refused with ErrInvalidKE and an error that names the method, what
// the data was, and the lengths.
func TestKEMRejectsBadData(t *testing.T) {
	// A coefficient ≥ q = 3329: 12-bit little-endian packing, so the first
	// coefficient is 0xfff from two 0xff octets.
	badEncoding := func(g DHGroup) []byte {
		k, _ := StartKeyExchange(g, nil)
		ek := k.Public()
		ek[0], ek[1] = 0xff, 0xff
		return ek
	}
	for _, c := range []struct {
		g    DHGroup
		data []byte
		want string
	}{
		{DHMLKEM768, nil, "ML_KEM_768 encapsulation key: invalid key exchange value: 0 octets, want 1184"},
		{DHMLKEM768, make([]byte, 1183), "ML_KEM_768 encapsulation key: invalid key exchange value: 1183 octets, want 1184"},
		{DHMLKEM768, make([]byte, 1185), "1185 octets, want 1184"},
		{DHMLKEM768, make([]byte, 1088), "1088 octets, want 1184"}, // a ciphertext where the key belongs
		{DHMLKEM1024, make([]byte, 1184), "ML_KEM_1024 encapsulation key: invalid key exchange value: 1184 octets, want 1568"},
		{DHMLKEM768, badEncoding(DHMLKEM768), "ML_KEM_768 encapsulation key: invalid key exchange value: not a valid encoding"},
		{DHMLKEM1024, badEncoding(DHMLKEM1024), "ML_KEM_1024 encapsulation key: invalid key exchange value: not a valid encoding"},
	} {
		ours, secret, err := RespondKeyExchange(c.g, c.data, nil)
		if !errors.Is(err, ErrInvalidKE) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, %d octets: err = %v, want ErrInvalidKE and %q", c.g, len(c.data), err, c.want)
		}
		if ours != nil || secret != nil {
			t.Errorf("%v, %d octets: data returned with the error", c.g, len(c.data))
		}
	}
	for _, c := range []struct {
		g    DHGroup
		n    int
		want string
	}{
		{DHMLKEM768, 0, "ML_KEM_768 ciphertext: invalid key exchange value: 0 octets, want 1088"},
		{DHMLKEM768, 1087, "ML_KEM_768 ciphertext: invalid key exchange value: 1087 octets, want 1088"},
		{DHMLKEM768, 1184, "1184 octets, want 1088"}, // the key sent back
		{DHMLKEM1024, 1567, "ML_KEM_1024 ciphertext: invalid key exchange value: 1567 octets, want 1568"},
	} {
		k, err := StartKeyExchange(c.g, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.SharedSecret(make([]byte, c.n))
		if !errors.Is(err, ErrInvalidKE) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, %d octets: err = %v, want ErrInvalidKE and %q", c.g, c.n, err, c.want)
		}
	}
}

// TestKEMGarbageCiphertext: a ciphertext of the right length always
// decapsulates (FIPS 203's implicit rejection), to a secret the
// responder does not have, so the handshake fails at AUTH.
func TestKEMGarbageCiphertext(t *testing.T) {
	for _, g := range []DHGroup{DHMLKEM768, DHMLKEM1024} {
		k, _ := StartKeyExchange(g, nil)
		ct, secret, err := RespondKeyExchange(g, k.Public(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ct[0] ^= 1
		got, err := k.SharedSecret(ct)
		if err != nil || len(got) != mlkem.SharedKeySize || bytes.Equal(got, secret) {
			t.Errorf("%v: tampered ciphertext: %x, %v", g, got, err)
		}
	}
}

// TestMLKEM512Refused: method 35 is named, and refused with the reason,
// wherever it is configured.
func TestMLKEM512Refused(t *testing.T) {
	if DHMLKEM512.Supported() {
		t.Error("ML-KEM-512 reported supported")
	}
	_, err := StartKeyExchange(DHMLKEM512, nil)
	if err == nil || !strings.Contains(err.Error(), "ML_KEM_512 not implemented: Go's crypto/mlkem has only ML-KEM-768 and ML-KEM-1024") {
		t.Errorf("StartKeyExchange: %v", err)
	}
	_, _, err = RespondKeyExchange(DHMLKEM512, make([]byte, 800), nil)
	if err == nil || errors.Is(err, ErrInvalidKE) {
		t.Errorf("RespondKeyExchange: %v, want a refusal that is not the peer's fault", err)
	}
	if _, err := ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-mlkem512"); err == nil ||
		!strings.Contains(err.Error(), `"mlkem512": ML-KEM-512 (Go's crypto/mlkem has only ML-KEM-768 and ML-KEM-1024) is not implemented`) {
		t.Errorf("ParseProposals: %v", err)
	}
	p := DefaultIKEPolicy()
	p.DH = []DHGroup{DHMLKEM512}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "ML_KEM_512 not implemented") {
		t.Errorf("Validate: %v", err)
	}
}

// TestMLKEMProposalKeywords: strongSwan's mlkem768 and mlkem1024 name the
// methods in IKE_SA_INIT; as keN_ they stay additional key exchanges.
func TestMLKEMProposalKeywords(t *testing.T) {
	for kw, g := range map[string]DHGroup{"mlkem768": DHMLKEM768, "mlkem1024": DHMLKEM1024} {
		p, err := ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-"+kw)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.DH) != 1 || p.DH[0] != g {
			t.Errorf("%s: DH %v, want [%v]", kw, p.DH, g)
		}
		specs, err := ParseProposalSpecs(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_"+kw)
		if err != nil {
			t.Fatal(err)
		}
		if len(specs[0].AddKE[0]) != 1 || specs[0].AddKE[0][0] != g || len(specs[0].DH) != 1 {
			t.Errorf("ke1_%s: AddKE %v, DH %v", kw, specs[0].AddKE, specs[0].DH)
		}
	}
	p, err := ParseProposals(ProtocolESP, "aes256gcm16-mlkem768")
	if err != nil || len(p.DH) != 1 || p.DH[0] != DHMLKEM768 {
		t.Errorf("ESP PFS with ML-KEM: %v, %v", p.DH, err)
	}
}
