package certstest

import (
	"crypto/rand"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// CRL makes a CRL of ca, valid from thisUpdate to nextUpdate, revoking the
// given serials.
func (ca *CA) CRL(t testing.TB, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(thisUpdate.Unix()),
		ThisUpdate: thisUpdate,
		NextUpdate: nextUpdate,
	}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: s, RevocationTime: thisUpdate,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("certstest: CRL of %q: %v", ca.Cert.Subject, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("certstest: parsing the CRL of %q: %v", ca.Cert.Subject, err)
	}
	return crl
}

// OCSPResponder answers OCSP requests about certificates of one CA, signed
// by the CA itself. Serve it with httptest; statuses not set are Good.
type OCSPResponder struct {
	CA *CA
	// Now is the responder's clock; nil is time.Now.
	Now func() time.Time

	mu       sync.Mutex
	status   map[string]int
	requests int
}

// SetStatus sets the answer for a serial: ocsp.Good, ocsp.Revoked or
// ocsp.Unknown.
func (r *OCSPResponder) SetStatus(serial *big.Int, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == nil {
		r.status = map[string]int{}
	}
	r.status[serial.String()] = status
}

// Requests is how many requests the responder has answered.
func (r *OCSPResponder) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// ServeHTTP answers a POSTed OCSP request.
func (r *OCSPResponder) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	body, err := io.ReadAll(io.LimitReader(hr.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	r.mu.Lock()
	r.requests++
	status, ok := r.status[req.SerialNumber.String()]
	r.mu.Unlock()
	if !ok {
		status = ocsp.Good
	}
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute),
		NextUpdate:   now.Add(time.Hour),
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = now.Add(-time.Hour)
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(r.CA.Cert, r.CA.Cert, tmpl, r.CA.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}
