package dnskey

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
)

func TestServerListSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	if err := writeFile(path, "search example.\nnameserver 198.18.0.53\nnameserver 2001:db8:1::53\n"); err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name       string
		entries    []string
		resolvConf string
		want       []Server
	}{
		{name: "default file", resolvConf: path,
			want: []Server{{ap("198.18.0.53:53"), path}, {ap("[2001:db8:1::53]:53"), path}}},
		{name: "addresses", entries: []string{"192.0.2.1", "[2001:db8::1]:5353"},
			want: []Server{{ap("192.0.2.1:53"), ""}, {ap("[2001:db8::1]:5353"), ""}}},
		{name: "mixed", entries: []string{"192.0.2.1:53", path},
			want: []Server{{ap("192.0.2.1:53"), ""}, {ap("198.18.0.53:53"), path}, {ap("[2001:db8:1::53]:53"), path}}},
	} {
		got, err := ServerList(tc.entries, tc.resolvConf)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"dns.example.com", filepath.Join(dir, "missing")} {
		if _, err := ServerList([]string{bad}, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
