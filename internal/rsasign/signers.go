package rsasign

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
)

// Config configures New.
type Config struct {
	// Backend chooses what signs; the zero value is Auto.
	Backend Backend
	// Logger takes the one line New logs about the backend, and the line
	// Wrap logs for a key OpenSSL does not take; nil: slog.Default().
	Logger *slog.Logger

	// load loads libcrypto and returns its version text; nil means
	// loadLibcrypto. Tests make it fail.
	load func() (string, error)
}

// Signers wraps RSA private keys for the backend New settled on. It is
// safe for concurrent use, and so are the signers it returns.
type Signers struct {
	backend Backend // Go or OpenSSL: what signs
	chosen  Backend // what the configuration asked for
	detail  string  // libcrypto's version, or why crypto/rsa signs
	log     *slog.Logger
}

// New loads libcrypto unless the backend is Go, and logs one line saying
// what will sign RSA signatures and, when crypto/rsa does under Auto,
// why. With OpenSSL, a libcrypto that does not load is an error.
func New(cfg Config) (*Signers, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	load := cfg.load
	if load == nil {
		load = loadLibcrypto
	}
	s := &Signers{backend: Go, chosen: cfg.Backend, log: log}
	switch cfg.Backend {
	case Go:
		s.detail = "crypto.rsa is go"
		log.Info("RSA signatures by crypto/rsa", "crypto.rsa", cfg.Backend)
		return s, nil
	case Auto, OpenSSL:
	default:
		return nil, fmt.Errorf("rsasign: unknown backend %d", int(cfg.Backend))
	}
	version, err := load()
	if err != nil {
		if cfg.Backend == OpenSSL {
			return nil, fmt.Errorf("crypto.rsa is openssl, but OpenSSL cannot sign: %w; or set crypto.rsa: auto or go", err)
		}
		s.detail = "OpenSSL did not load: " + err.Error()
		log.Warn("RSA signatures by crypto/rsa, about 4 times OpenSSL's CPU: OpenSSL did not load", "crypto.rsa", cfg.Backend, "err", err)
		return s, nil
	}
	s.backend, s.detail = OpenSSL, version
	log.Info("RSA signatures by OpenSSL", "crypto.rsa", cfg.Backend, "libcrypto", version)
	return s, nil
}

// Backend returns what signs: Go or OpenSSL (never Auto).
func (s *Signers) Backend() Backend { return s.backend }

// Detail returns libcrypto's version text when OpenSSL signs, else why
// crypto/rsa does.
func (s *Signers) Detail() string { return s.detail }

// Wrap returns the signer to use for k. Keys other than *rsa.PrivateKey,
// and every key when crypto/rsa signs, come back as they are. An RSA key
// OpenSSL does not take signs with crypto/rsa after a log line, or is an
// error when the configuration asked for OpenSSL.
func (s *Signers) Wrap(k crypto.Signer) (crypto.Signer, error) {
	priv, ok := k.(*rsa.PrivateKey)
	if !ok || s.backend != OpenSSL {
		return k, nil
	}
	o, err := newOpenSSLSigner(priv)
	if err == nil {
		err = selfTest(o, priv)
	}
	if err != nil {
		if s.chosen == OpenSSL {
			return nil, fmt.Errorf("crypto.rsa is openssl, but OpenSSL does not take this %d-bit RSA key: %w", priv.N.BitLen(), err)
		}
		s.log.Warn("this RSA key signs with crypto/rsa: OpenSSL does not take it", "bits", priv.N.BitLen(), "err", err)
		return k, nil
	}
	return o, nil
}

// selfTest signs one digest with o and with crypto/rsa: PKCS#1 v1.5 is
// deterministic, so the two must be the same bytes.
func selfTest(o crypto.Signer, priv *rsa.PrivateKey) error {
	d := sha256.Sum256([]byte("oemesh rsasign self-test"))
	got, err := o.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("self-test signature: %w", err)
	}
	want, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
	if err != nil {
		return fmt.Errorf("self-test signature by crypto/rsa: %w", err)
	}
	if string(got) != string(want) {
		return errors.New("self-test: OpenSSL's PKCS#1 v1.5 signature differs from crypto/rsa's")
	}
	return nil
}
