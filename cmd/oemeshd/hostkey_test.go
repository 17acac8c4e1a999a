package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

func TestHostSignerSwap(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	h := newHostSigner(k1)
	var s crypto.Signer = h
	msg := []byte("signed octets")
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(k1.Public().(ed25519.PublicKey), msg, sig) || !h.Public().(ed25519.PublicKey).Equal(k1.Public()) {
		t.Fatalf("before the swap: %v", err)
	}
	h.swap(k2)
	sig, err = s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(k2.Public().(ed25519.PublicKey), msg, sig) || !h.Public().(ed25519.PublicKey).Equal(k2.Public()) {
		t.Fatalf("after the swap the old key still signs: %v", err)
	}
	if h.current().(ed25519.PrivateKey).Equal(k1) {
		t.Fatal("current is the old key")
	}
}

// TestHostSignerPublicAllocs: the engine asks for the host key's public
// half several times a handshake; an Ed25519 key's own Public copies it
// each time, so the signer hands out the one it took when the key came.
func TestHostSignerPublicAllocs(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	h := newHostSigner(k)
	if n := testing.AllocsPerRun(100, func() { _ = h.Public() }); n != 0 {
		t.Errorf("hostSigner.Public allocates %.0f times a call, want 0", n)
	}
	if !h.Public().(ed25519.PublicKey).Equal(k.Public()) {
		t.Error("Public is not the key's public half")
	}
}
