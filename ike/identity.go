package ike

import (
	"bytes"
	"strings"

	"github.com/oemesh/oemesh/internal/dn"
)

// SameIdentity reports whether two identities name the same peer. It is
// the one comparison of the engine and of the tunnel tables above it:
//
//   - FQDNs compare as DNS names do, without regard to ASCII case or a
//     final dot ("B.example." is "b.example"), since one side may have
//     taken its peer's name from DNS and the other its own from a
//     configuration file;
//   - DNs (ID_DER_ASN1_DN) compare as certificates' subjects do
//     (internal/dn): a DN written in a configuration and the one a peer
//     sends from its certificate may use other string types, case or
//     spacing;
//   - all others compare octet for octet.
func SameIdentity(a, b Identity) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case IDFQDN:
		return strings.EqualFold(strings.TrimSuffix(string(a.Data), "."), strings.TrimSuffix(string(b.Data), "."))
	case IDDerASN1DN:
		return dn.Equal(a.Data, b.Data)
	}
	return bytes.Equal(a.Data, b.Data)
}
