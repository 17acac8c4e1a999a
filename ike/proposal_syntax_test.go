package ike

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProposals(t *testing.T) {
	for _, tc := range []struct {
		protocol ProtocolID
		in       string
		want     Policy
	}{
		{ProtocolIKE, "aes128gcm16-prfsha256-x25519", Policy{Protocol: ProtocolIKE,
			Encr: []EncrAlg{{EncrAESGCM16, 128}}, PRF: []PRFID{PRFHMACSHA2_256}, DH: []DHGroup{DHCurve25519}}},
		{ProtocolIKE, "aes256gcm16-prfsha384-ecp384", Policy{Protocol: ProtocolIKE,
			Encr: []EncrAlg{{EncrAESGCM16, 256}}, PRF: []PRFID{PRFHMACSHA2_384}, DH: []DHGroup{DHECP384}}},
		{ProtocolIKE, "chacha20poly1305-prfsha256-x25519", Policy{Protocol: ProtocolIKE,
			Encr: []EncrAlg{{EncrChaCha20Poly1305, 0}}, PRF: []PRFID{PRFHMACSHA2_256}, DH: []DHGroup{DHCurve25519}}},
		// Without a PRF keyword the PRF follows the integrity algorithm.
		{ProtocolIKE, "aes256-sha256-modp2048", Policy{Protocol: ProtocolIKE,
			Encr: []EncrAlg{{EncrAESCBC, 256}}, PRF: []PRFID{PRFHMACSHA2_256}, Integ: []IntegID{IntegHMACSHA2_256_128}, DH: []DHGroup{DHMODP2048}}},
		{ProtocolIKE, "AES256GCM128-PRFSHA512-ecp521-curve25519", Policy{Protocol: ProtocolIKE,
			Encr: []EncrAlg{{EncrAESGCM16, 256}}, PRF: []PRFID{PRFHMACSHA2_512}, DH: []DHGroup{DHECP521, DHCurve25519}}},
		// A list: the union, in order of first appearance, duplicates once.
		{ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256-sha384-sha256-modp2048-x25519", Policy{Protocol: ProtocolIKE,
			Encr:  []EncrAlg{{EncrAESGCM16, 128}, {EncrAESCBC, 256}},
			PRF:   []PRFID{PRFHMACSHA2_256, PRFHMACSHA2_384},
			Integ: []IntegID{IntegHMACSHA2_384_192, IntegHMACSHA2_256_128},
			DH:    []DHGroup{DHCurve25519, DHMODP2048}}},
		{ProtocolESP, "aes128gcm16-esn", Policy{Protocol: ProtocolESP,
			Encr: []EncrAlg{{EncrAESGCM16, 128}}, ESN: []ESN{ESNOn}}},
		// No ESN keyword: no ESN, as in strongSwan.
		{ProtocolESP, "aes256gcm16", Policy{Protocol: ProtocolESP,
			Encr: []EncrAlg{{EncrAESGCM16, 256}}, ESN: []ESN{ESNOff}}},
		{ProtocolESP, "aes256-sha512-ecp256-noesn-esn", Policy{Protocol: ProtocolESP,
			Encr: []EncrAlg{{EncrAESCBC, 256}}, Integ: []IntegID{IntegHMACSHA2_512_256}, DH: []DHGroup{DHECP256}, ESN: []ESN{ESNOff, ESNOn}}},
		{ProtocolESP, "chacha20poly1305,aes128gcm16-esn", Policy{Protocol: ProtocolESP,
			Encr: []EncrAlg{{EncrChaCha20Poly1305, 0}, {EncrAESGCM16, 128}}, ESN: []ESN{ESNOn}}},
		{ProtocolIKE, "default", DefaultIKEPolicy()},
		{ProtocolESP, "default", DefaultESPPolicy()},
	} {
		got, err := ParseProposals(tc.protocol, tc.in)
		if err != nil {
			t.Errorf("ParseProposals(%v, %q): %v", tc.protocol, tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseProposals(%v, %q) =\n%+v\nwant\n%+v", tc.protocol, tc.in, got, tc.want)
		}
	}
}

// A single proposal turns into the exact offer strongSwan makes for it.
func TestParseProposalsOffer(t *testing.T) {
	p, err := ParseProposals(ProtocolIKE, "aes128gcm16-prfsha256-x25519")
	if err != nil {
		t.Fatal(err)
	}
	props := p.Proposals(nil, DHCurve25519)
	want := []Transform{
		{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyLength: 128},
		{Type: TransformPRF, ID: uint16(PRFHMACSHA2_256)},
		{Type: TransformDH, ID: uint16(DHCurve25519)},
	}
	if len(props) != 1 || !reflect.DeepEqual(props[0].Transforms, want) {
		t.Errorf("offer %+v, want one proposal %+v", props, want)
	}
}

func TestParseProposalsErrors(t *testing.T) {
	for _, tc := range []struct {
		protocol ProtocolID
		in       string
		want     string // substrings of the error
	}{
		{ProtocolIKE, "", "empty list"},
		{ProtocolIKE, "aes128gcm16-prfsha256-x25519,", `proposal 2 "": empty proposal`},
		{ProtocolIKE, "aes128gcm16-prfsha256-x2559", `unknown algorithm keyword "x2559"`},
		{ProtocolIKE, "aes128gcm16--x25519", "empty algorithm keyword"},
		{ProtocolIKE, "aes128-sha1-modp2048", `"sha1": HMAC-SHA1 integrity is not implemented`},
		{ProtocolIKE, "aes128gcm8-prfsha256-x25519", `"aes128gcm8": AES-GCM with a short ICV`},
		{ProtocolIKE, "aes256-sha256-modp1024", `"modp1024": MODP-1024 is not implemented`},
		{ProtocolIKE, "3des-sha256-modp2048", `"3des"`},
		{ProtocolIKE, "aes128gcm16-x25519", "no PRF"},
		{ProtocolIKE, "aes128gcm16-prfsha256", "no key exchange method"},
		{ProtocolIKE, "prfsha256-x25519", "no encryption algorithm"},
		{ProtocolIKE, "aes256-prfsha256-x25519", "AES_CBC_256 needs an integrity algorithm"},
		{ProtocolIKE, "aes128gcm16-sha256-prfsha256-x25519", "AEAD takes none"},
		{ProtocolIKE, "aes128gcm16-prfsha256-x25519-esn", `"esn": ESN belongs in ESP proposals only`},
		{ProtocolESP, "aes128gcm16-prfsha256", `"prfsha256": a PRF belongs in IKE proposals only`},
		{ProtocolESP, "aes128gcm16,aes128ctr-sha256", `ESP proposal 2 "aes128ctr-sha256"`},
		{ProtocolAH, "sha256", "only IKE and ESP"},
	} {
		_, err := ParseProposals(tc.protocol, tc.in)
		if err == nil {
			t.Errorf("ParseProposals(%v, %q) succeeded, want an error containing %q", tc.protocol, tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProposals(%v, %q): %v; want it to contain %q", tc.protocol, tc.in, err, tc.want)
		}
	}
}

func FuzzParseProposals(f *testing.F) {
	for _, s := range []string{"aes128gcm16-prfsha256-x25519", "aes256-sha256-modp2048,aes128gcm16-esn", "default", "-,-", "",
		"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none,aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519-ke7_ecp256"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, ike bool) {
		proto := ProtocolESP
		if ike {
			proto = ProtocolIKE
		}
		// The probe's offer: an IKE proposal is acceptable to the policy
		// parsed with it exactly when each keN_ type it carries offers
		// NONE, the only additional exchange we can do.
		if pol, offer, err := ParseOffer(proto, s); err == nil && proto == ProtocolIKE {
			for _, prop := range offer {
				var typ, none uint8
				for _, x := range prop.Transforms {
					if n := x.Type.AddKE(); n != 0 {
						typ |= 1 << (n - 1)
						if x.ID == 0 {
							none |= 1 << (n - 1)
						}
					}
				}
				addke := typ != none
				if _, err := pol.Select([]Proposal{prop}); (err == nil) == addke {
					t.Fatalf("%q: proposal %d (ADDKE %v) selected: %v", s, prop.Number, addke, err)
				}
			}
		}
		p, err := ParseProposals(proto, s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ike: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		// Whatever parses is a usable policy.
		if err := p.Validate(); err != nil {
			t.Fatalf("%q parsed into an invalid policy: %v", s, err)
		}
		if len(p.Proposals(nil, DHNone)) == 0 {
			t.Fatalf("%q parsed into a policy that offers nothing", s)
		}
	})
}

// TestParseOfferAddKE: strongSwan's ke1_mlkem768 becomes an ADDKE1
// transform in the offer, one proposal per spec; the policy the peer's
// choice is checked against keeps the methods we can run and NONE;
// ParseProposals, which builds what we accept, takes ML-KEM-768 and
// refuses ML-KEM-512.
func TestParseOfferAddKE(t *testing.T) {
	p, offer, err := ParseOffer(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none,aes128gcm16-prfsha256-x25519")
	if err != nil {
		t.Fatal(err)
	}
	want1 := []Transform{
		{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyLength: 256},
		{Type: TransformPRF, ID: uint16(PRFHMACSHA2_384)},
		{Type: TransformDH, ID: uint16(DHCurve25519)},
		{Type: 6, ID: 36}, {Type: 6, ID: 0},
	}
	if len(offer) != 2 || offer[0].Number != 1 || offer[1].Number != 2 || !reflect.DeepEqual(offer[0].Transforms, want1) {
		t.Fatalf("offer %+v\nwant proposal 1 %+v and a second", offer, want1)
	}
	for _, x := range offer[1].Transforms {
		if x.Type > TransformESN {
			t.Errorf("proposal 2 carries %v", x.Type)
		}
	}
	if len(p.Encr) != 2 || len(p.DH) != 1 || !reflect.DeepEqual(p.AddKE, [7][]DHGroup{{DHMLKEM768, DHNone}}) {
		t.Errorf("policy %+v", p)
	}
	if _, offer, err := ParseOffer(ProtocolIKE, "aes128gcm16-prfsha256-x25519-ke3_ecp256"); err != nil || !reflect.DeepEqual(offer[0].Transforms[3], Transform{Type: 8, ID: uint16(DHECP256)}) {
		t.Errorf("ke3_ecp256: %+v, %v", offer, err)
	}
	for in, want := range map[string]string{
		"aes128gcm16-prfsha256-x25519-ke1_mlkem768":          "", // no error
		"aes128gcm16-prfsha256-x25519-ke1_mlkem768-ke1_none": "", // no error
		"aes128gcm16-prfsha256-x25519-ke1_mlkem512":          "ADDKE1 ML_KEM_512: key exchange method not implemented",
		"aes128gcm16-prfsha256-x25519-ke1_none":              "", // no error
		"aes128gcm16-prfsha256-x25519-ke1_sha256":            `"sha256" is not a key exchange method`,
		"aes128gcm16-prfsha256-x25519-ke8_mlkem768":          `unknown algorithm keyword "ke8_mlkem768"`,
	} {
		if _, err := ParseProposals(ProtocolIKE, in); (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("ParseProposals(%q): %v, want %q", in, err, want)
		}
	}
}
