package ike

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// decryptionKeys is one line of a Wireshark ikev2_decryption_table:
// SPIi,SPIr,SK_ei,SK_er,"encr",SK_ai,SK_ar,"integ".
type decryptionKeys struct {
	spii, spir SPI
	ei, er     []byte
	encr       EncrAlg
}

func readDecryptionTable(t *testing.T, path string) []decryptionKeys {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []decryptionKeys
	for i, r := range rows {
		if len(r) != 8 {
			t.Fatalf("%s line %d: %d fields", path, i+1, len(r))
		}
		var k decryptionKeys
		dec := func(s string) []byte {
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatalf("%s line %d: %v", path, i+1, err)
			}
			return b
		}
		copy(k.spii[:], dec(r[0]))
		copy(k.spir[:], dec(r[1]))
		k.ei, k.er = dec(r[2]), dec(r[3])
		switch {
		case strings.HasPrefix(r[4], "AES-GCM-128 with 16 octet ICV"):
			k.encr = EncrAlg{EncrAESGCM16, 128}
		case strings.HasPrefix(r[4], "AES-GCM-256 with 16 octet ICV"):
			k.encr = EncrAlg{EncrAESGCM16, 256}
		default:
			t.Fatalf("%s line %d: encryption %q not handled by this test", path, i+1, r[4])
		}
		if !strings.HasPrefix(r[7], "NONE") {
			t.Fatalf("%s line %d: integrity %q not handled by this test", path, i+1, r[7])
		}
		out = append(out, k)
	}
	return out
}

// TestCapturesDecryptStrongSwan decrypts every SK message of the
// strongSwan captures with the keys of their decryption tables and checks
// what strongSwan 5.9.8 put inside: IKE_AUTH carries IDr because the
// captures' configs set remote.id, and the MOBIKE notifies because mobike
// is on by default (checkStrongSwanIKEAuth lists the exact payloads).
func TestCapturesDecryptStrongSwan(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	cases := []struct {
		name   string
		method AuthMethod
		scheme string // describeAuth of method 14
	}{
		{"strongswan-ikev2-psk", AuthSharedKey, "SHARED_KEY_MIC"},
		{"strongswan-ikev2-rsa", AuthDigitalSignature, "DIGITAL_SIGNATURE(sha256WithRSAEncryption)"},
		{"strongswan-ikev2-ed25519", AuthDigitalSignature, "DIGITAL_SIGNATURE(ed25519)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := readDecryptionTable(t, filepath.Join(capturesDir, tc.name+".ikev2_decryption_table"))
			msgs, _ := readCaptureIKE(t, filepath.Join(capturesDir, tc.name+".pcap"))
			decrypted, auths := 0, 0
			for _, c := range msgs {
				m := c.msg
				if _, ok := m.Payloads[len(m.Payloads)-1].(*wire.Encrypted); !ok {
					continue
				}
				var k *decryptionKeys
				for i := range keys {
					if keys[i].spii == m.SPIi && keys[i].spir == m.SPIr {
						k = &keys[i]
					}
				}
				if k == nil {
					t.Fatalf("#%d: no keys for SPIs %x/%x", c.index, m.SPIi, m.SPIr)
				}
				key := k.er
				if m.IsInitiator() {
					key = k.ei
				}
				ciph, err := NewSKCipher(k.encr, IntegNone, key, nil)
				if err != nil {
					t.Fatal(err)
				}
				// A flipped ciphertext bit must fail integrity first.
				tampered := append([]byte(nil), c.raw...)
				tampered[len(tampered)-20] ^= 1
				tm, err := wire.ParseMessage(tampered)
				if err != nil {
					t.Fatal(err)
				}
				if err := tm.Decrypt(ciph); err == nil || !strings.Contains(err.Error(), ErrIntegrity.Error()) {
					t.Errorf("#%d: tampered message: err %v, want integrity failure", c.index, err)
				}
				// Our encoding of the decrypted payloads is byte-exact.
				sk := m.Payloads[len(m.Payloads)-1].(*wire.Encrypted)
				pt, err := ciph.Open("SK", c.raw[:len(c.raw)-len(sk.Body)], sk.Body) // SK is last: its integrity covers all before its body
				if err != nil {
					t.Fatalf("#%d: %v", c.index, err)
				}
				if err := m.Decrypt(ciph); err != nil {
					t.Fatalf("#%d %v: %v", c.index, m.Exchange, err)
				}
				decrypted++
				if enc, first, err := marshalInner(m.Payloads); err != nil || first != sk.NextPayload || hex.EncodeToString(enc) != hex.EncodeToString(pt) {
					t.Errorf("#%d: re-encoded plaintext differs (%v)\n got %x\nwant %x", c.index, err, enc, pt)
				}
				t.Logf("#%d %v %s: %s", c.index, m.Exchange, respStr(m), payloadTypes(m.Payloads))
				if m.Exchange != wire.IKEAuth {
					continue
				}
				auths++
				checkStrongSwanIKEAuth(t, m, tc.method, tc.scheme, a1, a2)
				// The decrypted payloads re-encrypt into a message that
				// decrypts to the same payloads.
				out, err := (&wire.Message{Header: m.Header, Payloads: m.Payloads}).MarshalEncrypted(ciph)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != len(c.raw) {
					t.Errorf("#%d: re-encrypted length %d, original %d", c.index, len(out), len(c.raw))
				}
				back, err := wire.ParseMessage(out)
				if err != nil {
					t.Fatal(err)
				}
				if err := back.Decrypt(ciph); err != nil || payloadTypes(back.Payloads) != payloadTypes(m.Payloads) {
					t.Errorf("#%d: re-encrypted round trip: %v %s", c.index, err, payloadTypes(back.Payloads))
				}
			}
			if auths != 2 || decrypted < 4 {
				t.Errorf("decrypted %d messages, %d IKE_AUTH; want >= 4 and 2", decrypted, auths)
			}
		})
	}
}

func checkStrongSwanIKEAuth(t *testing.T, m *wire.Message, method AuthMethod, scheme string, a1, a2 netip.Addr) {
	t.Helper()
	got := payloadTypes(m.Payloads)
	var want string
	if m.IsResponse() {
		want = "IDr AUTH SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES)"
	} else {
		want = "IDi N(INITIAL_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUPPORTED) N(NO_ADDITIONAL_ADDRESSES) " +
			"N(MULTIPLE_AUTH_SUPPORTED) N(EAP_ONLY_AUTHENTICATION) N(IKEV2_MESSAGE_ID_SYNC_SUPPORTED)"
	}
	if got != want {
		t.Errorf("IKE_AUTH %s payloads\n got %s\nwant %s", respStr(m), got, want)
	}
	for _, p := range m.Payloads {
		switch p := p.(type) {
		case *wire.IDPayload:
			want := a1
			if p.Responder {
				want = a2
			}
			if a, ok := p.Addr(); p.Identity.Type != IDIPv4Addr || !ok || a != want {
				t.Errorf("%v = %v, want ID_IPV4_ADDR %v", p.Type(), p.Identity, want)
			}
		case *wire.Auth:
			if p.Method != method || describeAuth(p) != scheme {
				t.Errorf("AUTH %s, want method %d %s", describeAuth(p), method, scheme)
			}
			if method == AuthDigitalSignature {
				// strongSwan's AlgorithmIdentifier is byte-identical to ours.
				alg, err := parseAlgorithmIdentifier(p.Data[1 : 1+int(p.Data[0])])
				ours, _ := alg.scheme.AlgorithmIdentifier()
				if err != nil || !bytes.Equal(p.Data[1:1+int(p.Data[0])], ours) {
					t.Errorf("AUTH algorithm identifier %x, ours %x (%v)", p.Data[1:1+int(p.Data[0])], ours, err)
				}
				sigLen := map[SignatureScheme]int{SigRSAPKCS1SHA256: 256, SigEd25519: 64}[alg.scheme]
				if len(p.Data) != 1+len(ours)+sigLen {
					t.Errorf("AUTH %v signature of %d octets, want %d", alg.scheme, len(p.Data)-1-len(ours), sigLen)
				}
			}
			if method == AuthSharedKey && len(p.Data) != 32 {
				t.Errorf("PSK AUTH of %d octets, want 32 (prf-hmac-sha256)", len(p.Data))
			}
		case *wire.SA:
			if len(p.Proposals) != 1 {
				t.Fatalf("SA: %d proposals", len(p.Proposals))
			}
			pr := p.Proposals[0]
			if pr.Protocol != ProtocolESP || len(pr.SPI) != 4 {
				t.Errorf("SA proposal %v SPI %x, want ESP with 4-octet SPI", pr.Protocol, pr.SPI)
			}
			sel, err := DefaultESPPolicy().Select(p.Proposals)
			if err != nil {
				t.Errorf("our ESP policy rejects strongSwan's: %v", err)
			} else if sel.Encr != (EncrAlg{EncrAESGCM16, 128}) || sel.ESN != ESNOff || sel.DH != DHNone {
				t.Errorf("selected %+v, want AES_GCM_16_128, no ESN, no PFS", sel)
			}
		case *wire.TSPayload:
			host := a1
			if p.Responder {
				host = a2
			}
			n := 2 // the trap-triggering packet, then the configured /32
			if m.IsResponse() {
				n = 1
			}
			if len(p.Selectors) != n {
				t.Fatalf("%v: %d selectors, want %d", p.Type(), len(p.Selectors), n)
			}
			last := p.Selectors[n-1]
			if last.String() != HostSelector(host).String() || last.Type != TSIPv4AddrRange {
				t.Errorf("%v last selector %v, want %v", p.Type(), last, HostSelector(host))
			}
		}
	}
}
