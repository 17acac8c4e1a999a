package certs

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oemesh/oemesh/internal/dn"
)

// IDType is an IKE identification type, numbered as in RFC 7296 §3.5, so
// the engine's adapter converts its own type by a plain conversion.
type IDType uint8

// The ID types a certificate can carry.
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDerASN1DN  IDType = 9
)

// ID is the identity a peer claims: its type and its data as in the ID
// payload (an address's 4 or 16 bytes, a name's text, a DN's DER).
type ID struct {
	Type IDType
	Data []byte
}

// String shows an ID for logs: the DN as text, names and addresses plainly.
func (id ID) String() string {
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		return string(id.Data)
	case IDDerASN1DN:
		if n, err := parseDN(id.Data); err == nil {
			return n.String()
		}
	}
	return fmt.Sprintf("ID type %d (%d bytes)", id.Type, len(id.Data))
}

// MatchID reports, as an IDMismatch *VerifyError, whether id is not a name
// of cert:
//
//   - ID_DER_ASN1_DN must equal the subject: byte for byte, or else by the
//     canonical comparison of internal/dn (string types ignored, case and
//     surrounding white space ignored, RDNs in the same order).
//   - ID_FQDN must be a SAN dNSName, compared without case and without a
//     trailing dot. A SAN "*.example.com" matches one whole left-most label
//     ("www.example.com", not "example.com" nor "a.b.example.com"), as RFC
//     6125 §6.4.3 allows; the subject's CN is never used (RFC 6125 §6.4.4
//     permits it only without SANs, and both the CA/B Forum and Go's
//     crypto/x509 have dropped it).
//   - ID_IPV4_ADDR and ID_IPV6_ADDR must be a SAN iPAddress.
//   - ID_RFC822_ADDR must be a SAN rfc822Name: the local part exactly, the
//     domain without case (RFC 5280 §7.5).
//
// Other ID types never match a certificate.
//
// Verify calls it for the claimed ID; certificate OE calls it again for
// the name the application asked for.
func MatchID(cert *x509.Certificate, id ID) error {
	ok, why := matchID(cert, id)
	if ok {
		return nil
	}
	return refuse(IDMismatch, cert, nil, "%s %s %s", id.Type.name(), id.String(), why)
}

func matchID(cert *x509.Certificate, id ID) (bool, string) {
	switch id.Type {
	case IDDerASN1DN:
		same, err := dn.Compare(cert.RawSubject, id.Data)
		if err != nil {
			return false, fmt.Sprintf("does not parse: %v", err)
		}
		return same, "is not the subject"
	case IDFQDN:
		for _, n := range cert.DNSNames {
			if matchDNSName(n, string(id.Data)) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("is not among the SAN dNSNames %v", cert.DNSNames)
	case IDIPv4Addr, IDIPv6Addr:
		want, ok := netip.AddrFromSlice(id.Data)
		if !ok || (id.Type == IDIPv4Addr) != (len(id.Data) == 4) || (id.Type == IDIPv6Addr) != (len(id.Data) == 16) {
			return false, fmt.Sprintf("has %d bytes", len(id.Data))
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() {
				return true, ""
			}
		}
		return false, fmt.Sprintf("is not among the SAN iPAddresses %v", cert.IPAddresses)
	case IDRFC822Addr:
		for _, e := range cert.EmailAddresses {
			if matchEmail(e, string(id.Data)) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("is not among the SAN rfc822Names %v", cert.EmailAddresses)
	}
	return false, "cannot be matched against a certificate"
}

func (t IDType) name() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDerASN1DN:
		return "ID_DER_ASN1_DN"
	}
	return fmt.Sprintf("ID type %d", uint8(t))
}

// matchDNSName compares a SAN dNSName (perhaps "*.domain") with a host
// name, both without case and trailing dot.
func matchDNSName(san, host string) bool {
	san = strings.ToLower(strings.TrimSuffix(san, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if san == "" || host == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(san, "*."); ok {
		label, parent, found := strings.Cut(host, ".")
		return found && label != "" && rest != "" && !strings.Contains(rest, "*") && parent == rest
	}
	return san == host
}

func matchEmail(san, addr string) bool {
	sl, sd, ok1 := strings.Cut(san, "@")
	al, ad, ok2 := strings.Cut(addr, "@")
	return ok1 && ok2 && sl == al && strings.EqualFold(sd, ad)
}
