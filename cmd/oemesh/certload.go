package main

import (
	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
)

// parseDN reads a distinguished name written as strongSwan does
// ("C=CH, O=strongSwan, CN=moon.example") into an ID_DER_ASN1_DN identity
// (certs.ParseDNText).
func parseDN(s string) (ike.Identity, error) {
	der, err := certs.ParseDNText(s)
	if err != nil {
		return ike.Identity{}, err
	}
	return ike.Identity{Type: ike.IDDerASN1DN, Data: der}, nil
}
