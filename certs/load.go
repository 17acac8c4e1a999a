package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ParseCertificates parses one or more PEM CERTIFICATE blocks, or a single
// DER certificate (strongSwan's x509 directories accept both). Other PEM
// blocks are an error, so that a key pasted into a certificate file is
// noticed.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !looksPEM(data) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for i := 1; ; i++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, not CERTIFICATE", i, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", i, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// LoadCertificates reads a certificate file: an end entity followed by its
// intermediates, or a bundle.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", path, err)
	}
	return certs, nil
}

// LoadCABundle reads trust anchors from a file of PEM certificates or a
// directory of them, like /etc/ipsec.d/cacerts or swanctl/x509ca: every
// regular file not starting with "." must hold certificates. Files that
// are not CAs (no basicConstraints CA) are refused: a bundle of end
// entities is a configuration mistake, not a trust decision.
func LoadCABundle(path string) ([]*x509.Certificate, error) {
	files, err := listFiles(path)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	var out []*x509.Certificate
	for _, f := range files {
		certs, err := LoadCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		for _, c := range certs {
			if !c.IsCA {
				return nil, fmt.Errorf("CA bundle %s: %q (serial %s) is not a CA certificate", f, c.Subject, serialHex(c))
			}
		}
		out = append(out, certs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CA bundle %s: no certificates", path)
	}
	return out, nil
}

// SystemRoots returns the system's trust anchors (x509.SystemCertPool).
func SystemRoots() (*x509.CertPool, error) {
	p, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("system roots: %w", err)
	}
	return p, nil
}

// ParseCRL parses a CRL in PEM ("X509 CRL") or DER. Its signature is
// checked when it is used, against the issuer of the certificate it is
// consulted for.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	if looksPEM(data) {
		b, _ := pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM block")
		}
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block is %q, not X509 CRL", b.Type)
		}
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, err
	}
	return crl, nil
}

// LoadCRLs reads a CRL file, or every file of a directory such as
// /etc/ipsec.d/crls or swanctl/x509crl.
func LoadCRLs(path string) ([]*x509.RevocationList, error) {
	files, err := listFiles(path)
	if err != nil {
		return nil, fmt.Errorf("CRLs: %w", err)
	}
	var out []*x509.RevocationList
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("CRL: %w", err)
		}
		crl, err := ParseCRL(data)
		if err != nil {
			return nil, fmt.Errorf("CRL file %s: %w", f, err)
		}
		out = append(out, crl)
	}
	return out, nil
}

// listFiles is path itself if it is a file, or the regular files of the
// directory, sorted, without hidden ones.
func listFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		full := filepath.Join(path, e.Name())
		if st, err := os.Stat(full); err != nil || !st.Mode().IsRegular() {
			continue // a dangling link or a subdirectory: not ours to read
		}
		out = append(out, full)
	}
	sort.Strings(out)
	return out, nil
}

func looksPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}
