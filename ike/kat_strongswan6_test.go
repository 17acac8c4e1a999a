package ike

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// Known-answer tests for the hybrid key schedule (RFC 9370 §2.2.2) and the
// IntAuth chain (RFC 9242 §3.3.2). Neither RFC 9370, RFC 9242 nor
// draft-ietf-ipsecme-ikev2-mlkem publishes test vectors, so the answers come
// from strongSwan 6.1: two charons ran a hybrid handshake, tcpdump
// recorded it, and each charon logged at level 4 the shared secret of every
// key exchange, SKEYSEED and the SK_* keys of every stage, the IntAuth
// inputs and outputs, and the octets each AUTH signs. testdata/kat/README.md
// says how the files were made and how to make them again.

const katDir = "testdata/kat"

// katEntry is one dump of a charon log: its label and octets.
type katEntry struct {
	label string
	data  []byte
}

// katVectors holds one capture's .keys file.
type katVectors struct {
	psk  []byte
	pub  map[string]ed25519.PublicKey // by role
	logs map[string][]katEntry        // by role, in log order
}

func readKATVectors(t *testing.T, path string) *katVectors {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := &katVectors{pub: map[string]ed25519.PublicKey{}, logs: map[string][]katEntry{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			t.Fatalf("%s:%d: %d tab-separated fields, want role, label, hex", path, n, len(fields))
		}
		data, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		switch role, label := fields[0], fields[1]; {
		case label == "psk":
			v.psk = data
		case label == "ed25519 public key":
			v.pub[role] = ed25519.PublicKey(data)
		default:
			v.logs[role] = append(v.logs[role], katEntry{label, data})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// all returns every dump with label that both charons logged, in order,
// after checking that the two logs agree on them.
func (v *katVectors) all(t *testing.T, label string) [][]byte {
	t.Helper()
	var byRole [2][][]byte
	for i, role := range []string{"initiator", "responder"} {
		for _, e := range v.logs[role] {
			if e.label == label {
				byRole[i] = append(byRole[i], e.data)
			}
		}
	}
	if len(byRole[0]) == 0 || len(byRole[0]) != len(byRole[1]) {
		t.Fatalf("%q: %d dumps in the initiator's log, %d in the responder's", label, len(byRole[0]), len(byRole[1]))
	}
	for i := range byRole[0] {
		if !bytes.Equal(byRole[0][i], byRole[1][i]) {
			t.Fatalf("%q #%d: the two charons disagree\n%x\n%x", label, i, byRole[0][i], byRole[1][i])
		}
	}
	return byRole[0]
}

func wantEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s\n got %x\nwant %x (charon 6.1)", what, got, want)
	}
}

// katOpen decrypts the protected messages of one exchange and direction
// (reassembling SKF fragments) with c. It also checks that the keys of the
// other stage fail their integrity check, so that a test passing with the
// wrong keys cannot go unnoticed.
func katOpen(t *testing.T, msgs []captured, x wire.ExchangeType, response bool, c, wrong *SKCipher) *wire.Message {
	t.Helper()
	var r wire.Reassembler
	var out *wire.Message
	for _, cm := range msgs {
		m := cm.msg
		if m.Exchange != x || m.IsResponse() != response || len(m.Payloads) == 0 {
			continue
		}
		// A copy for the wrong keys: Decrypt and Add consume the message.
		other, err := wire.ParseMessage(cm.raw)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Payloads[len(m.Payloads)-1].(type) {
		case *wire.Encrypted:
			if err := other.Decrypt(wrong); !errors.Is(err, ErrIntegrity) {
				t.Errorf("#%d %v: keys of the wrong stage: %v, want an integrity failure", cm.index, x, err)
			}
			if err := m.Decrypt(c); err != nil {
				t.Fatalf("#%d %v: %v", cm.index, x, err)
			}
			out = m
		case *wire.EncryptedFragment:
			var rw wire.Reassembler
			if _, err := rw.Add(other, wrong); !errors.Is(err, ErrIntegrity) {
				t.Errorf("#%d %v fragment: keys of the wrong stage: %v, want an integrity failure", cm.index, x, err)
			}
			done, err := r.Add(m, c)
			if err != nil {
				t.Fatalf("#%d %v fragment: %v", cm.index, x, err)
			}
			if done != nil {
				out = done
			}
		}
	}
	if out == nil {
		t.Fatalf("no complete %v %s in the capture", x, map[bool]string{false: "request", true: "response"}[response])
	}
	return out
}

func katPayload[P wire.Payload](t *testing.T, m *wire.Message, match func(P) bool) P {
	t.Helper()
	for _, p := range m.Payloads {
		if q, ok := p.(P); ok && (match == nil || match(q)) {
			return q
		}
	}
	var zero P
	t.Fatalf("%v message %d: no %T payload in %s", m.Exchange, m.MessageID, zero, payloadTypes(m.Payloads))
	return zero
}

// TestKATStrongSwan6Hybrid recomputes, with our code, every key and octet
// string charon 6.1 logged for a hybrid handshake, and decrypts and
// verifies the captured messages with them:
//   - SKEYSEED and SK_* from IKE_SA_INIT's shared secret (RFC 7296 §2.14);
//   - the IKE_INTERMEDIATE messages, decrypted (and reassembled) with those
//     keys, carrying the ML-KEM encapsulation key and ciphertext, which our
//     ML-KEM code accepts;
//   - IntAuth_*A | IntAuth_*P of each IKE_INTERMEDIATE message
//     (wire.Message.IntAuthOctets), and the IntAuth chain;
//   - SKEYSEED(1) and SK_*(1) after the ML-KEM exchange (UpdateAfterAddKE);
//   - the IKE_AUTH messages, decrypted with the updated keys, and both
//     AUTH payloads verified over the octets we compute, which also equal
//     the octets charon signed.
func TestKATStrongSwan6Hybrid(t *testing.T) {
	cases := []struct {
		name     string
		suite    IKESuite
		group    DHGroup // of IKE_SA_INIT
		addKE    DHGroup // ADDKE1
		ekLen    int     // ML-KEM encapsulation key
		ctLen    int     // ML-KEM ciphertext
		frags    bool    // IKE_INTERMEDIATE went in SKF fragments
		authMeth AuthMethod
	}{
		{
			name:  "strongswan6-x25519-mlkem768-ed25519",
			suite: IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_384},
			group: DHCurve25519, addKE: DHMLKEM768, ekLen: 1184, ctLen: 1088, authMeth: AuthDigitalSignature,
		},
		{
			name:  "strongswan6-ecp384-mlkem1024-psk-frag",
			suite: IKESuite{Encr: EncrAlg{EncrAESGCM16, 256}, PRF: PRFHMACSHA2_384},
			group: DHECP384, addKE: DHMLKEM1024, ekLen: 1568, ctLen: 1568, frags: true, authMeth: AuthSharedKey,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := readKATVectors(t, filepath.Join(katDir, tc.name+".keys"))
			msgs, _ := readCaptureIKE(t, filepath.Join(katDir, tc.name+".pcap"))
			prf := tc.suite.PRF

			// IKE_SA_INIT, in clear.
			var initI, initR *captured
			for i := range msgs {
				if m := msgs[i].msg; m.Exchange == wire.IKESAInit {
					if m.IsResponse() {
						initR = &msgs[i]
					} else {
						initI = &msgs[i]
					}
				}
			}
			if initI == nil || initR == nil {
				t.Fatal("no IKE_SA_INIT request and response in the capture")
			}
			ni := katPayload[*wire.Nonce](t, initI.msg, nil).Data
			nr := katPayload[*wire.Nonce](t, initR.msg, nil).Data
			spii, spir := initR.msg.SPIi, initR.msg.SPIr
			for i, n := range v.all(t, "nonces") {
				wantEqual(t, fmt.Sprintf("Ni | Nr of key derivation %d", i), append(append([]byte(nil), ni...), nr...), n)
			}
			if g := katPayload[*wire.KE](t, initI.msg, nil).Group; g != tc.group {
				t.Errorf("IKE_SA_INIT KE %v, want %v", g, tc.group)
			}
			secrets := v.all(t, "key exchange secret")
			seeds := v.all(t, "SKEYSEED")
			if len(secrets) != 2 || len(seeds) != 2 {
				t.Fatalf("%d shared secrets and %d SKEYSEEDs logged, want 2 each (IKE_SA_INIT, ADDKE1)", len(secrets), len(seeds))
			}
			checkKeys := func(stage int, k *IKEKeys) {
				t.Helper()
				for _, c := range []struct {
					label string
					got   []byte
				}{
					{"Sk_d secret", k.SKd}, {"Sk_ei secret", k.SKei}, {"Sk_er secret", k.SKer},
					{"Sk_pi secret", k.SKpi}, {"Sk_pr secret", k.SKpr},
				} {
					want := v.all(t, c.label)
					if len(want) != 2 {
						t.Fatalf("%q logged %d times, want 2", c.label, len(want))
					}
					wantEqual(t, fmt.Sprintf("%s of stage %d", c.label, stage), c.got, want[stage])
				}
				if len(k.SKai) != 0 || len(k.SKar) != 0 {
					t.Errorf("stage %d: SK_ai/SK_ar of %d/%d octets for an AEAD", stage, len(k.SKai), len(k.SKar))
				}
			}

			// Stage 0: the keys of IKE_SA_INIT (RFC 7296 §2.14).
			seed0 := SKEYSEED(prf, ni, nr, secrets[0])
			wantEqual(t, "SKEYSEED", seed0, seeds[0])
			k0, err := tc.suite.DeriveIKEKeys(seed0, ni, nr, spii, spir)
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(0, k0)

			// Stage 1: after ADDKE1 (RFC 9370 §2.2.2).
			k1, err := k0.UpdateAfterAddKE(secrets[1], ni, nr, spii, spir)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, "SKEYSEED(1) = prf(SK_d(0), SK(1) | Ni | Nr)", prf.Compute(k0.SKd, secrets[1], ni, nr), seeds[1])
			checkKeys(1, k1)

			i0, r0, err := k0.Ciphers()
			if err != nil {
				t.Fatal(err)
			}
			i1, r1, err := k1.Ciphers()
			if err != nil {
				t.Fatal(err)
			}

			// IKE_INTERMEDIATE 1, protected with the keys of stage 0.
			frags := 0
			for _, c := range msgs {
				if _, ok := c.msg.Payloads[len(c.msg.Payloads)-1].(*wire.EncryptedFragment); ok && c.msg.Exchange == wire.IKEIntermediate {
					frags++
				}
			}
			if (frags > 0) != tc.frags {
				t.Errorf("%d IKE_INTERMEDIATE fragments in the capture, want fragments: %v", frags, tc.frags)
			}
			req := katOpen(t, msgs, wire.IKEIntermediate, false, i0, i1)
			resp := katOpen(t, msgs, wire.IKEIntermediate, true, r0, r1)
			if req.MessageID != 1 || resp.MessageID != 1 {
				t.Errorf("IKE_INTERMEDIATE message IDs %d/%d, want 1", req.MessageID, resp.MessageID)
			}
			ek := katPayload[*wire.KE](t, req, nil)
			ct := katPayload[*wire.KE](t, resp, nil)
			if ek.Group != tc.addKE || len(ek.Data) != tc.ekLen || ct.Group != tc.addKE || len(ct.Data) != tc.ctLen {
				t.Errorf("IKE_INTERMEDIATE KE %v of %d octets, answered by %v of %d; want %v of %d and %d",
					ek.Group, len(ek.Data), ct.Group, len(ct.Data), tc.addKE, tc.ekLen, tc.ctLen)
			}
			// charon's encapsulation key is one we encapsulate to.
			if ours, secret, err := RespondKeyExchange(ek.Group, ek.Data, rand.Reader); err != nil || len(ours) != tc.ctLen || len(secret) != 32 {
				t.Errorf("our ML-KEM encapsulation to charon's key: %d-octet ciphertext, %d-octet secret, %v", len(ours), len(secret), err)
			}

			// The IntAuth chain over IKE_INTERMEDIATE 1 (RFC 9242 §3.3.2).
			reqOctets, err := req.IntAuthOctets()
			if err != nil {
				t.Fatal(err)
			}
			respOctets, err := resp.IntAuthOctets()
			if err != nil {
				t.Fatal(err)
			}
			ap := v.all(t, "IntAuth_A|P")
			ints := v.all(t, "IntAuth_N = prf(Sk_px, data)")
			if len(ap) != 2 || len(ints) != 2 {
				t.Fatalf("%d IntAuth_A|P and %d IntAuth_N logged, want 2 each", len(ap), len(ints))
			}
			wantEqual(t, "IntAuth_i1A | IntAuth_i1P", reqOctets, ap[0])
			wantEqual(t, "IntAuth_r1A | IntAuth_r1P", respOctets, ap[1])
			// The chain takes A and P apart, as the engine folds them.
			reqA, reqP, err := req.IntAuthParts()
			if err != nil {
				t.Fatal(err)
			}
			respA, respP, err := resp.IntAuthParts()
			if err != nil {
				t.Fatal(err)
			}
			var chain intAuthChain
			chain.addRequest(prf, k0.SKpi, reqA, reqP)
			chain.addResponse(prf, k0.SKpr, respA, respP)
			wantEqual(t, "IntAuth_i1", chain.i, ints[0])
			wantEqual(t, "IntAuth_r1", chain.r, ints[1])

			// IKE_AUTH, protected with the keys of stage 1.
			authReq := katOpen(t, msgs, wire.IKEAuth, false, i1, i0)
			authResp := katOpen(t, msgs, wire.IKEAuth, true, r1, r0)
			if authReq.MessageID != 2 {
				t.Errorf("IKE_AUTH message ID %d, want 2", authReq.MessageID)
			}
			idi := katPayload[*wire.IDPayload](t, authReq, func(p *wire.IDPayload) bool { return !p.Responder })
			idr := katPayload[*wire.IDPayload](t, authResp, func(p *wire.IDPayload) bool { return p.Responder })
			authI := katPayload[*wire.Auth](t, authReq, nil)
			authR := katPayload[*wire.Auth](t, authResp, nil)
			octI := signedOctetsWithIntAuth(prf, initI.raw, nr, k1.SKpi, idi.Identity, &chain, authReq.MessageID)
			octR := signedOctetsWithIntAuth(prf, initR.raw, ni, k1.SKpr, idr.Identity, &chain, authReq.MessageID)
			octs := v.all(t, "octets = message + nonce + prf(Sk_px, IDx') + IntAuth")
			if len(octs) != 2 {
				t.Fatalf("%d signed octets logged, want 2", len(octs))
			}
			wantEqual(t, "InitiatorSignedOctets", octI, octs[0])
			wantEqual(t, "ResponderSignedOctets", octR, octs[1])

			verify := func(who string, a *wire.Auth, role string, octets []byte) error {
				if a.Method != tc.authMeth {
					t.Fatalf("%s AUTH method %v, want %v", who, a.Method, tc.authMeth)
				}
				if a.Method == AuthSharedKey {
					return VerifySharedKeyAuth(prf, v.psk, octets, a.Data)
				}
				_, err := verifyAuth(a, v.pub[role], octets, SigEd25519)
				return err
			}
			if err := verify("initiator", authI, "initiator", octI); err != nil {
				t.Errorf("initiator's AUTH over our octets: %v", err)
			}
			if err := verify("responder", authR, "responder", octR); err != nil {
				t.Errorf("responder's AUTH over our octets: %v", err)
			}
			// The AUTH payloads cover the IntAuth chain: without it, or
			// with another IKE_AUTH message ID, they do not verify.
			plain := SignedOctets(prf, initI.raw, nr, k1.SKpi, idi.Identity)
			if err := verify("initiator", authI, "initiator", plain); !errors.Is(err, ErrAuthentication) {
				t.Errorf("initiator's AUTH without IntAuth: %v, want an authentication failure", err)
			}
			otherMID := binary.BigEndian.AppendUint32(bytes.Clone(octR[:len(octR)-4]), authReq.MessageID+1)
			if err := verify("responder", authR, "responder", otherMID); !errors.Is(err, ErrAuthentication) {
				t.Errorf("responder's AUTH with another IKE_AUTH_MID: %v, want an authentication failure", err)
			}
		})
	}
}
