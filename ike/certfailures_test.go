package ike

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"testing"
)

// labelledErr is a verifier error that names its reason, as
// certs.VerifyError does.
type labelledErr struct {
	label string
	err   error
}

func (e *labelledErr) Error() string       { return e.label + ": " + e.err.Error() }
func (e *labelledErr) Unwrap() error       { return e.err }
func (e *labelledErr) MetricLabel() string { return e.label }

// labellingVerifier labels every refusal of its inner verifier.
type labellingVerifier struct {
	inner CertVerifier
	label string
}

func (v labellingVerifier) VerifyCert(ctx context.Context, chain [][]byte, peer Identity) (crypto.PublicKey, error) {
	k, err := v.inner.VerifyCert(ctx, chain, peer)
	if err != nil {
		return nil, fmt.Errorf("wrapped: %w", &labelledErr{v.label, err})
	}
	return k, nil
}

func TestCertFailureLabel(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&labelledErr{"unknown_ca", errors.New("x")}, "unknown_ca"},
		{fmt.Errorf("outer: %w", &labelledErr{"expired", errors.New("x")}), "expired"},
		{errors.New("plain"), CertFailureOther},
		{&labelledErr{"", errors.New("x")}, CertFailureOther},
		{&labelledErr{"Has Spaces", errors.New("x")}, CertFailureOther},
		{&labelledErr{`a"b`, errors.New("x")}, CertFailureOther},
		{&labelledErr{"a_very_long_label_that_goes_on_and_on_and_on", errors.New("x")}, CertFailureOther},
	} {
		if got := certFailureLabel(c.err); got != c.want {
			t.Errorf("certFailureLabel(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestCertFailuresBounded: a verifier with ever new labels makes at most
// maxCertFailureLabels of them; the rest count as other.
func TestCertFailuresBounded(t *testing.T) {
	var s stats
	for i := range 3 * maxCertFailureLabels {
		s.noteCertFailure(&labelledErr{fmt.Sprintf("reason_%d", i), errors.New("x")})
	}
	total := uint64(0)
	for _, n := range s.certFailures {
		total += n
	}
	if len(s.certFailures) > maxCertFailureLabels+1 || total != 3*maxCertFailureLabels || s.certFailures[CertFailureOther] == 0 {
		t.Errorf("%d labels (at most %d and other), total %d (want %d), other %d",
			len(s.certFailures), maxCertFailureLabels, total, 3*maxCertFailureLabels, s.certFailures[CertFailureOther])
	}
}

// TestCertFailuresCounted: the engine that refuses a peer's chain counts
// the refusal under its verifier's label; the peer's engine counts nothing.
func TestCertFailuresCounted(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	other := newTestCA(t, "other", false)
	n, a, b := certPair(t, ca, other.issue("a", s["p256"], "192.0.2.1"), ca.issue("b", s["p256"], "192.0.2.2"), nil)
	b.e.cfg.CertVerifier = labellingVerifier{b.e.cfg.CertVerifier, "unknown_ca"}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert}); err == nil {
		t.Fatal("B accepted A's certificate from an unknown CA")
	}
	n.drain()
	if got := b.e.Stats().CertFailures; len(got) != 1 || got["unknown_ca"] != 1 {
		t.Errorf("B's certificate failures: %v, want unknown_ca 1", got)
	}
	if got := a.e.Stats().CertFailures; len(got) != 0 {
		t.Errorf("A's certificate failures: %v, want none", got)
	}
}
