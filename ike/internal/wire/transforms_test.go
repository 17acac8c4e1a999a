package wire

import "testing"

// TestTransformNames pins the IANA names the algorithm types of ike print
// (through TransformIDName), the fallbacks for IDs we do not list, and a
// transform's name with its key length and attributes.
func TestTransformNames(t *testing.T) {
	for _, tc := range []struct {
		t    TransformType
		id   uint16
		want string
	}{
		{TransformENCR, 12, "AES_CBC"},
		{TransformENCR, 20, "AES_GCM_16"},
		{TransformENCR, 28, "CHACHA20_POLY1305"},
		{TransformENCR, 3, "ENCR_3"},
		{TransformPRF, 2, "PRF_HMAC_SHA1"},
		{TransformPRF, 5, "PRF_HMAC_SHA2_256"},
		{TransformPRF, 6, "PRF_HMAC_SHA2_384"},
		{TransformPRF, 7, "PRF_HMAC_SHA2_512"},
		{TransformPRF, 4, "PRF_4"},
		{TransformINTEG, 0, "NONE"},
		{TransformINTEG, 12, "AUTH_HMAC_SHA2_256_128"},
		{TransformINTEG, 13, "AUTH_HMAC_SHA2_384_192"},
		{TransformINTEG, 14, "AUTH_HMAC_SHA2_512_256"},
		{TransformINTEG, 2, "AUTH_2"},
		{TransformDH, 0, "NONE"},
		{TransformDH, 14, "MODP_2048"},
		{TransformDH, 31, "CURVE25519"},
		{TransformDH, 35, "ML_KEM_512"},
		{TransformDH, 36, "ML_KEM_768"},
		{TransformDH, 37, "ML_KEM_1024"},
		{TransformDH, 2, "DH_2"},
		{TransformESN, 0, "NO_ESN"},
		{TransformESN, 1, "ESN"},
		{TransformESN, 7, "ESN_7"},
		{6, 35, "ADDKE1/35"},
		{200, 1, "transform type 200/1"},
	} {
		if got := TransformIDName(tc.t, tc.id); got != tc.want {
			t.Errorf("TransformIDName(%v, %d) = %q, want %q", tc.t, tc.id, got, tc.want)
		}
	}
	if got := EncrName(20, 256); got != "AES_GCM_16_256" {
		t.Errorf("EncrName(20, 256) = %q", got)
	}
	if got := EncrName(28, 0); got != "CHACHA20_POLY1305" {
		t.Errorf("EncrName(28, 0) = %q", got)
	}
	for _, tc := range []struct {
		tr   Transform
		want string
	}{
		{Transform{Type: TransformENCR, ID: 12, KeyLength: 128}, "AES_CBC_128"},
		{Transform{Type: TransformDH, ID: uint16(DHECP256)}, "ECP_256"},
		{Transform{Type: TransformPRF, ID: 5, Attributes: []TransformAttribute{{Type: 17}}}, "PRF_HMAC_SHA2_256+attrs"},
	} {
		if got := tc.tr.String(); got != tc.want {
			t.Errorf("%#v: String() = %q, want %q", tc.tr, got, tc.want)
		}
	}
}

// TestDHGroupLengths: the KE data length of each group we implement, and
// none for the others. The initiator's (PublicLen) and responder's
// (ResponseLen) are equal for a DH group; for ML-KEM they are the
// encapsulation key's and the ciphertext's (FIPS 203 Table 3).
func TestDHGroupLengths(t *testing.T) {
	want := map[DHGroup]int{DHCurve25519: 32, DHECP256: 64, DHECP384: 96, DHECP521: 132,
		DHMODP2048: 256, DHMODP3072: 384, DHMODP4096: 512, DHMLKEM768: 1184, DHMLKEM1024: 1568}
	wantResp := map[DHGroup]int{DHMLKEM768: 1088, DHMLKEM1024: 1568}
	for g := DHGroup(0); g < 256; g++ {
		if got := g.PublicLen(); got != want[g] || g.Supported() != (want[g] != 0) {
			t.Errorf("%v: PublicLen %d, Supported %v; want %d", g, got, g.Supported(), want[g])
		}
		wr, ok := wantResp[g]
		if !ok {
			wr = want[g]
		}
		if got := g.ResponseLen(); got != wr {
			t.Errorf("%v: ResponseLen %d, want %d", g, got, wr)
		}
		if kem := g >= 35 && g <= 37; g.KEM() != kem {
			t.Errorf("%v: KEM() = %v, want %v", g, g.KEM(), kem)
		}
	}
}
