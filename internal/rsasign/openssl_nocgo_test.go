//go:build !cgo

package rsasign

import (
	"errors"
	"log/slog"
	"testing"
)

// TestNoCgo: built without cgo, auto signs with crypto/rsa and openssl is
// an error that says why.
func TestNoCgo(t *testing.T) {
	if _, err := New(Config{Backend: OpenSSL, Logger: slog.New(&records{})}); !errors.Is(err, errNoCgo) {
		t.Errorf("New(openssl) = %v, want %v", err, errNoCgo)
	}
	s, err := New(Config{Backend: Auto, Logger: slog.New(&records{})})
	if err != nil || s.Backend() != Go {
		t.Errorf("New(auto) = %v, %v; want crypto/rsa", s, err)
	}
}
