package dnskey

import "fmt"

// The UnmarshalText methods read back what MarshalText writes, so that the
// text forms round-trip (the control API has its own wire types, in
// internal/control; these are for logs, flags and tests).

// UnmarshalText parses "IPSECKEY", "TXT" or "KEY".
func (s *Source) UnmarshalText(b []byte) error {
	for _, v := range []Source{SourceIPSECKEY, SourceTXT, SourceKEY} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("dnskey: unknown record source %q", b)
}

// UnmarshalText parses an algorithm name as String prints it.
func (a *Algorithm) UnmarshalText(b []byte) error {
	for v := 0; v < 256; v++ {
		if Algorithm(v).String() == string(b) {
			*a = Algorithm(v)
			return nil
		}
	}
	return fmt.Errorf("dnskey: unknown algorithm %q", b)
}

// UnmarshalText parses "none", an address or "@fqdn".
func (g *Gateway) UnmarshalText(b []byte) error {
	v, err := ParseGateway(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}
