package policygroups

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // prefixes, or "host:NAME"
		wantErr []string // substrings, one per error, in order
	}{
		{name: "empty", in: ""},
		{name: "comments and blanks", in: "# all comment\n\n   \n\t# indented\n"},
		{name: "v4 cidr", in: "10.0.0.0/8\n", want: []string{"10.0.0.0/8"}},
		{name: "v6 cidr", in: "2001:db8::/32\n", want: []string{"2001:db8::/32"}},
		{name: "bare v4 is /32", in: "192.0.2.7", want: []string{"192.0.2.7/32"}},
		{name: "bare v6 is /128", in: "2001:db8::1\n", want: []string{"2001:db8::1/128"}},
		{name: "mapped v4 bare is unmapped", in: "::ffff:192.0.2.1\n", want: []string{"192.0.2.1/32"}},
		{name: "mixed families with trailing comments", in: "192.0.2.0/24 # lab\n2001:db8:1::/48\t# v6 lab\n",
			want: []string{"192.0.2.0/24", "2001:db8:1::/48"}},
		{name: "default routes", in: "0.0.0.0/0\n::/0\n", want: []string{"0.0.0.0/0", "::/0"}},
		{name: "host name", in: "www.example.org\n", want: []string{"host:www.example.org"}},
		{name: "host name trailing dot", in: "peer.example.\n", want: []string{"host:peer.example"}},
		{name: "crlf line ends", in: "192.0.2.0/24\r\n", want: []string{"192.0.2.0/24"}},
		{name: "two words", in: "192.0.2.0/24 198.51.100.0/24\n", wantErr: []string{"x:1:", "one CIDR, address or host name per line; found 2 words"}},
		{name: "bad length", in: "\n192.0.2.0/33\n", wantErr: []string{"x:2:", `"192.0.2.0/33"`, "not a valid CIDR"}},
		{name: "host bits", in: "192.0.2.1/24\n", wantErr: []string{"x:1:", "host bits set", "did you mean 192.0.2.0/24"}},
		{name: "bad address", in: "10.0.0.300\n", wantErr: []string{"x:1:", `"10.0.0.300"`, "not a valid address"}},
		{name: "bad v6", in: "2001:db8:::1\n", wantErr: []string{"x:1:", "not a valid address"}},
		{name: "garbage", in: "$%^&\n", wantErr: []string{"x:1:", "not a CIDR, an address or a host name"}},
		{name: "zone", in: "fe80::1%eth0\n", wantErr: []string{"x:1:", "zone is not allowed"}},
		{name: "mapped prefix", in: "::ffff:192.0.2.0/120\n", wantErr: []string{"x:1:", "IPv4-mapped"}},
		{name: "label too long", in: strings.Repeat("a", 64) + ".example\n", wantErr: []string{"x:1:", "not a CIDR, an address or a host name"}},
		{name: "line too long", in: strings.Repeat("#", maxLineLen+10) + "\n", wantErr: []string{"x:1:", "line longer than 4096 bytes"}},
		{name: "errors keep going", in: "bogus!\n192.0.2.0/24\n10.1/8\n",
			want:    []string{"192.0.2.0/24"},
			wantErr: []string{"x:1:", "x:3:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, errs := ParseFile("x", strings.NewReader(tc.in))
			var got []string
			for _, it := range items {
				if it.Host != "" {
					got = append(got, "host:"+it.Host)
				} else {
					got = append(got, it.Prefix.String())
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("items = %v, want %v", got, tc.want)
			}
			if len(tc.wantErr) == 0 {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("no error, want %v", tc.wantErr)
			}
			all := errs.Error()
			for _, w := range tc.wantErr {
				if !strings.Contains(all, w) {
					t.Errorf("errors %q do not contain %q", all, w)
				}
			}
		})
	}
}

func TestParseFilePositions(t *testing.T) {
	items, errs := ParseFile("/etc/ipsec.d/policies/private", strings.NewReader("# c\n\n192.0.2.0/24\n"))
	if len(errs) != 0 || len(items) != 1 {
		t.Fatalf("items %v errs %v", items, errs)
	}
	if got := items[0].Pos.String(); got != "/etc/ipsec.d/policies/private:3" {
		t.Errorf("position = %s", got)
	}
	if items[0].Prefix != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("prefix = %v", items[0].Prefix)
	}
}

func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		"192.0.2.0/24\n", "2001:db8::/32 # c\n", "host.example\n", "a b\n", "10.0.0.300\n",
		"::ffff:1.2.3.4\n", "fe80::1%eth0\n", "192.0.2.1/24\n", "\r\n#\n", "0.0.0.0/0\n::/0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		items, errs := ParseFile("f", strings.NewReader(in))
		for _, it := range items {
			if it.Host == "" && (!it.Prefix.IsValid() || it.Prefix.Masked() != it.Prefix) {
				t.Fatalf("invalid prefix accepted: %v from %q", it.Prefix, in)
			}
			if it.Pos.Line < 1 {
				t.Fatalf("bad line number %d", it.Pos.Line)
			}
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "f:") {
				t.Fatalf("error without file position: %q", e.Error())
			}
		}
	})
}
