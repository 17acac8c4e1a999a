package certs

import (
	"crypto/x509"
	"net"
	"testing"
)

func TestMatchDNSName(t *testing.T) {
	tests := []struct {
		san, host string
		want      bool
	}{
		{"gw.example", "gw.example", true},
		{"GW.Example", "gw.EXAMPLE", true},
		{"gw.example.", "gw.example", true},
		{"gw.example", "gw.example.", true},
		{"gw.example", "gw2.example", false},
		{"*.example", "www.example", true},
		{"*.example", "WWW.Example.", true},
		{"*.example", "example", false},
		{"*.example", "a.b.example", false},
		{"*.example", ".example", false},
		{"w*.example", "www.example", false},
		{"*", "example", false},
		{"*.*.example", "a.b.example", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := matchDNSName(tt.san, tt.host); got != tt.want {
			t.Errorf("matchDNSName(%q, %q) = %v, want %v", tt.san, tt.host, got, tt.want)
		}
	}
}

func TestMatchID(t *testing.T) {
	cert := &x509.Certificate{
		DNSNames:       []string{"gw.example", "*.svc.example"},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
		EmailAddresses: []string{"Admin@Example.org"},
	}
	tests := []struct {
		id   ID
		want bool
	}{
		{ID{IDFQDN, []byte("gw.example")}, true},
		{ID{IDFQDN, []byte("api.svc.example")}, true},
		{ID{IDFQDN, []byte("svc.example")}, false},
		{ID{IDIPv4Addr, []byte{192, 0, 2, 1}}, true},
		{ID{IDIPv4Addr, []byte{192, 0, 2, 9}}, false},
		{ID{IDIPv6Addr, net.ParseIP("2001:db8::1")}, true},
		// An IPv4 address dressed as ID_IPV6_ADDR, or the wrong length.
		{ID{IDIPv6Addr, []byte{192, 0, 2, 1}}, false},
		{ID{IDIPv4Addr, net.ParseIP("192.0.2.1")}, false},
		{ID{IDRFC822Addr, []byte("Admin@example.ORG")}, true},
		{ID{IDRFC822Addr, []byte("admin@example.org")}, false},
		{ID{IDFQDN, nil}, false},
		{ID{11, []byte("key id")}, false},
	}
	for _, tt := range tests {
		err := MatchID(cert, tt.id)
		if (err == nil) != tt.want {
			t.Errorf("MatchID(%s) = %v, want match %v", tt.id, err, tt.want)
		}
		if err != nil && err.(*VerifyError).Reason != IDMismatch {
			t.Errorf("MatchID(%s): reason %s, want id_mismatch", tt.id, err.(*VerifyError).Reason)
		}
	}
}
