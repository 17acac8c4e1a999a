package wire

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// CertEncoding is the Cert Encoding of a CERT or CERTREQ payload (RFC
// 7296 §3.6).
type CertEncoding uint8

// Certificate encodings. Only CertX509Signature is used; the others are
// parsed, kept and ignored.
const (
	CertPKCS7             CertEncoding = 1
	CertPGP               CertEncoding = 2
	CertDNSSignedKey      CertEncoding = 3
	CertX509Signature     CertEncoding = 4
	CertKerberos          CertEncoding = 6
	CertCRL               CertEncoding = 7
	CertARL               CertEncoding = 8
	CertSPKI              CertEncoding = 9
	CertX509Attribute     CertEncoding = 10
	CertRawRSAKey         CertEncoding = 11
	CertHashURLX509       CertEncoding = 12
	CertHashURLX509Bundle CertEncoding = 13
	CertOCSPContent       CertEncoding = 14
	CertRawPublicKey      CertEncoding = 15
)

func (c CertEncoding) String() string {
	switch c {
	case CertPKCS7:
		return "PKCS7"
	case CertPGP:
		return "PGP"
	case CertDNSSignedKey:
		return "DNS_SIGNED_KEY"
	case CertX509Signature:
		return "X509_SIGNATURE"
	case CertKerberos:
		return "KERBEROS"
	case CertCRL:
		return "CRL"
	case CertARL:
		return "ARL"
	case CertSPKI:
		return "SPKI"
	case CertX509Attribute:
		return "X509_ATTRIBUTE"
	case CertRawRSAKey:
		return "RAW_RSA_KEY"
	case CertHashURLX509:
		return "HASH_URL_X509"
	case CertHashURLX509Bundle:
		return "HASH_URL_X509_BUNDLE"
	case CertOCSPContent:
		return "OCSP_CONTENT"
	case CertRawPublicKey:
		return "RAW_PUBLIC_KEY"
	}
	return fmt.Sprintf("cert encoding %d", uint8(c))
}

// CAKeyHashLen is the length of one Certification Authority entry of an
// X.509 CERTREQ: the SHA-1 hash of the CA's DER SubjectPublicKeyInfo
// (RFC 7296 §3.7).
const CAKeyHashLen = 20

// Cert is a CERT or CERTREQ payload. For CERT with CertX509Signature,
// Data is one DER certificate; for CERTREQ with CertX509Signature, Data
// is a concatenation of CA key hashes (CAKeyHashes splits it). Other
// encodings are kept opaque.
type Cert struct {
	Request  bool // CERTREQ rather than CERT
	Encoding CertEncoding
	Data     []byte
}

// X509Cert returns a CERT payload carrying one DER certificate.
func X509Cert(der []byte) *Cert { return &Cert{Encoding: CertX509Signature, Data: der} }

// X509CertReq returns a CERTREQ payload asking for certificates issued
// by the CAs whose key hashes are given (each CAKeyHashLen octets).
func X509CertReq(hashes [][]byte) *Cert {
	data := make([]byte, 0, len(hashes)*CAKeyHashLen)
	for _, h := range hashes {
		data = append(data, h...)
	}
	return &Cert{Request: true, Encoding: CertX509Signature, Data: data}
}

func (p *Cert) Type() PayloadType {
	if p.Request {
		return PayloadCERTREQ
	}
	return PayloadCERT
}

// CAKeyHashes splits the Certification Authority field of an X.509
// CERTREQ into its SHA-1 key hashes. An empty field (which some peers
// send to ask for any certificate) gives none. It is not checked at
// parse time, so that a peer's odd CERTREQ, which is only a hint, does
// not cost the whole message.
func (p *Cert) CAKeyHashes() ([][]byte, error) {
	if !p.Request || p.Encoding != CertX509Signature {
		return nil, fmt.Errorf("%v %v payload has no CA key hashes", p.Encoding, p.Type())
	}
	if len(p.Data)%CAKeyHashLen != 0 {
		return nil, SyntaxErrorf("CERTREQ: certification authority field of %d octets is not a list of %d-octet hashes", len(p.Data), CAKeyHashLen)
	}
	out := make([][]byte, 0, len(p.Data)/CAKeyHashLen)
	for i := 0; i < len(p.Data); i += CAKeyHashLen {
		out = append(out, p.Data[i:i+CAKeyHashLen])
	}
	return out, nil
}

func (p *Cert) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Encoding))
	b.AddBytes(p.Data)
}

func parseCert(t PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &Cert{Request: t == PayloadCERTREQ, Encoding: CertEncoding(r.u8("cert encoding"))}
	p.Data = r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if !p.Request && p.Encoding == CertX509Signature && len(p.Data) == 0 {
		return nil, SyntaxErrorf("CERT: empty X.509 certificate")
	}
	return p, nil
}

// dnString renders a DER distinguished name as RFC 4514 text, for logs.
func dnString(der []byte) (string, bool) {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
		return "", false
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String(), true
}
