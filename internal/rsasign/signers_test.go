package rsasign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // IKE's AUTH method 1
	"crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// records is a slog.Handler that keeps what is logged.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// attr returns the value of the attribute key of record i.
func (r *records) attr(i int, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.recs[i].Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

var errNoLibcrypto = errors.New("libcrypto.so.3: cannot open shared object file")

func failingLoad() (string, error) { return "", errNoLibcrypto }

func TestParseBackend(t *testing.T) {
	for _, b := range []Backend{Auto, Go, OpenSSL} {
		got, err := ParseBackend(b.String())
		if err != nil || got != b {
			t.Errorf("ParseBackend(%q) = %v, %v; want %v", b.String(), got, err, b)
		}
	}
	if _, err := ParseBackend("boringssl"); err == nil {
		t.Error("ParseBackend(boringssl) accepted")
	}
}

// TestGoBackendLeavesKeys: crypto.rsa go never loads libcrypto and hands
// every key back as it is.
func TestGoBackendLeavesKeys(t *testing.T) {
	loaded := false
	s, err := New(Config{Backend: Go, Logger: slog.New(&records{}), load: func() (string, error) { loaded = true; return "x", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if loaded {
		t.Error("backend go loaded libcrypto")
	}
	if s.Backend() != Go {
		t.Errorf("Backend() = %v, want go", s.Backend())
	}
	k := newKey(t)
	got, err := s.Wrap(k)
	if err != nil || got != crypto.Signer(k) {
		t.Errorf("Wrap = %T, %v; want the *rsa.PrivateKey itself", got, err)
	}
}

// TestAutoFallsBackWhenLibcryptoFails: under auto, a libcrypto that does
// not load leaves crypto/rsa signing, and one warning says why.
func TestAutoFallsBackWhenLibcryptoFails(t *testing.T) {
	log := &records{}
	s, err := New(Config{Backend: Auto, Logger: slog.New(log), load: failingLoad})
	if err != nil {
		t.Fatalf("auto with no libcrypto: %v", err)
	}
	if s.Backend() != Go {
		t.Fatalf("Backend() = %v, want go", s.Backend())
	}
	if len(log.recs) != 1 || log.recs[0].Level != slog.LevelWarn {
		t.Fatalf("logged %d records, want one warning: %v", len(log.recs), log.recs)
	}
	if v, ok := log.attr(0, "err"); !ok || !strings.Contains(v.String(), errNoLibcrypto.Error()) {
		t.Errorf("the warning's err is %v, want the load error", v)
	}
	k := newKey(t)
	got, err := s.Wrap(k)
	if err != nil || got != crypto.Signer(k) {
		t.Errorf("Wrap = %T, %v; want the *rsa.PrivateKey itself", got, err)
	}
	d := sha256.Sum256([]byte("m"))
	sig, err := got.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d[:], sig); err != nil {
		t.Error(err)
	}
}

// TestOpenSSLRequiredFailsWhenLibcryptoFails: crypto.rsa openssl makes a
// libcrypto that does not load an error at start, naming the cause.
func TestOpenSSLRequiredFailsWhenLibcryptoFails(t *testing.T) {
	_, err := New(Config{Backend: OpenSSL, Logger: slog.New(&records{}), load: failingLoad})
	if !errors.Is(err, errNoLibcrypto) {
		t.Fatalf("New(openssl) with no libcrypto = %v, want the load error", err)
	}
}

func TestWrapLeavesOtherKeys(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Backend: Auto, Logger: slog.New(&records{})})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Wrap(ed)
	if err != nil || !bytes.Equal(got.(ed25519.PrivateKey), ed) {
		t.Errorf("Wrap(ed25519) = %T, %v; want the key itself", got, err)
	}
}

// TestResolve checks which calls OpenSSL signs and with what, and which
// it leaves to crypto/rsa, because OpenSSL would not sign them the same.
func TestResolve(t *testing.T) {
	k := newKey(t)
	pub := &k.PublicKey
	d256 := make([]byte, 32)
	d384 := make([]byte, 48)
	d1 := make([]byte, 20)
	longest256 := 256 - 2 - 32
	tests := []struct {
		name   string
		random io.Reader
		digest []byte
		opts   crypto.SignerOpts
		want   request
		byGo   bool
	}{
		{"ike method 1", rand.Reader, d1, crypto.SHA1, request{hash: crypto.SHA1}, false},
		{"ike PSS SHA-256", rand.Reader, d256, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}, request{crypto.SHA256, true, 32}, false},
		{"ike PSS SHA-384", rand.Reader, d384, &rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384}, request{crypto.SHA384, true, 48}, false},
		{"PSS equals hash", rand.Reader, d256, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, request{crypto.SHA256, true, 32}, false},
		{"PSS auto is the longest salt", rand.Reader, d256, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}, request{crypto.SHA256, true, longest256}, false},
		{"PSS longest salt", rand.Reader, d256, &rsa.PSSOptions{SaltLength: longest256, Hash: crypto.SHA256}, request{crypto.SHA256, true, longest256}, false},
		{"PKCS#1 v1.5 ignores the random source", nil, d256, crypto.SHA256, request{hash: crypto.SHA256}, false},
		{"PSS with the caller's random source", bytes.NewReader(make([]byte, 64)), d256, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}, request{crypto.SHA256, true, 32}, true},
		{"PKCS#1 v1.5 unhashed", rand.Reader, []byte("abc"), crypto.Hash(0), request{}, true},
		{"PKCS#1 v1.5 MD5", rand.Reader, make([]byte, 16), crypto.MD5, request{hash: crypto.MD5}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, byGo, err := resolve(pub, tt.random, tt.digest, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if byGo != tt.byGo || (!byGo && got != tt.want) {
				t.Errorf("resolve = %+v, byGo %v; want %+v, byGo %v", got, byGo, tt.want, tt.byGo)
			}
		})
	}
}

// TestResolveRefuses: arguments crypto/rsa would refuse (or panic on) are
// errors that say what is wrong, before anything signs.
func TestResolveRefuses(t *testing.T) {
	k := newKey(t)
	d := make([]byte, 32)
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"nil opts", d, nil},
		{"nil PSS opts", d, (*rsa.PSSOptions)(nil)},
		{"message instead of digest", []byte("the whole message, not its hash"), crypto.SHA256},
		{"digest of another hash", d, crypto.SHA384},
		{"PSS without a hash", d, &rsa.PSSOptions{SaltLength: 32}},
		{"PSS negative salt", d, &rsa.PSSOptions{SaltLength: -2, Hash: crypto.SHA256}},
		{"PSS salt longer than the key holds", d, &rsa.PSSOptions{SaltLength: 256 - 2 - 32 + 1, Hash: crypto.SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := resolve(&k.PublicKey, rand.Reader, tt.digest, tt.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "rsasign: ") {
				t.Errorf("resolve = %v, want an rsasign error", err)
			}
		})
	}
}
