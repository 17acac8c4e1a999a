package ike

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// TestInstallKeysOwnsKeys checks that an SA's SK ciphers keep working
// after the key-material buffer they were derived from is overwritten:
// installKeys hands SK_e and SK_a to NewSKCipher without copying them
// first, which is right only while NewSKCipher keeps keys of its own.
func TestInstallKeysOwnsKeys(t *testing.T) {
	for _, s := range skSuites {
		t.Run(s.Encr.String()+"/"+s.Integ.String(), func(t *testing.T) {
			seed := make([]byte, s.PRF.Size())
			rand.Read(seed)
			k, err := s.DeriveIKEKeys(seed, make([]byte, 32), make([]byte, 32), SPI{1}, SPI{2})
			if err != nil {
				t.Fatal(err)
			}
			// What the peer holds: its own copy of the same keys.
			peer := *k
			for _, p := range []*[]byte{&peer.SKei, &peer.SKai, &peer.SKer, &peer.SKar} {
				*p = bytes.Clone(*p)
			}
			peerI, peerR, err := peer.Ciphers()
			if err != nil {
				t.Fatal(err)
			}
			sa := &ikeSA{suite: s, handshake: &handshake{}}
			if err := sa.installKeys(k); err != nil {
				t.Fatal(err)
			}
			for _, b := range [][]byte{k.SKei, k.SKai, k.SKer, k.SKar} {
				for i := range b {
					b[i] ^= 0xff
				}
			}
			aad := []byte("header and SK payload header")
			msg := []byte("IKE_AUTH inner payloads")
			sealed, err := sa.cout.Seal(aad, msg)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := peerR.Open("SK", aad, sealed[len(aad):]); err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("peer opens our message after the key material changed: %q, %v", pt, err)
			}
			sealed, err = peerI.Seal(aad, msg)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := sa.cin.Open("SK", aad, sealed[len(aad):]); err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("we open the peer's message after the key material changed: %q, %v", pt, err)
			}
		})
	}
}
