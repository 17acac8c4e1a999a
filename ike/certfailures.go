package ike

import "errors"

// CertFailureLabeler is implemented by the errors of a CertVerifier that
// know why they refused a chain (certs.VerifyError does): MetricLabel is a
// short, stable lower-case name for the reason ("expired", "unknown_ca"),
// which the engine counts in Stats.CertFailures. The engine never imports
// the verifier; this interface is all it knows of its errors.
type CertFailureLabeler interface {
	MetricLabel() string
}

// CertFailureOther is the label of a refusal whose error has no usable
// MetricLabel, and of every label past maxCertFailureLabels.
const CertFailureOther = "other"

// maxCertFailureLabels bounds the labels Stats.CertFailures holds, so that
// a verifier with free-form labels cannot grow the counters (or a metric
// made from them) without limit. certs has a dozen reasons.
const maxCertFailureLabels = 24

// certFailureLabel is the label that counts err: its MetricLabel when that
// is a short name of lower-case letters, digits and underscores, otherwise
// CertFailureOther.
func certFailureLabel(err error) string {
	var l CertFailureLabeler
	if !errors.As(err, &l) {
		return CertFailureOther
	}
	s := l.MetricLabel()
	if s == "" || len(s) > 32 {
		return CertFailureOther
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return CertFailureOther
		}
	}
	return s
}

// noteCertFailure counts a chain the CertVerifier refused, by reason.
func (s *stats) noteCertFailure(err error) {
	label := certFailureLabel(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certFailures == nil {
		s.certFailures = make(map[string]uint64)
	}
	if _, ok := s.certFailures[label]; !ok && len(s.certFailures) >= maxCertFailureLabels {
		label = CertFailureOther
	}
	s.certFailures[label]++
}
