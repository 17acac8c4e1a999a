package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="

func TestParseTSIGKey(t *testing.T) {
	want := TSIGKey{Name: "oemesh-b.example.", Algorithm: dns.HmacSHA256, Secret: secret}
	tests := []struct {
		name, text string
		want       TSIGKey
		err        string
	}{
		{"bind clause", `key "oemesh-b.example" {
	algorithm hmac-sha256;
	secret "` + secret + `";
};
`, want, ""},
		{"one line clause with comments", "# made by tsig-keygen\nkey \"OEMESH-B.example.\" { algorithm hmac-sha256; secret \"" + secret + "\"; }; // end\n", want, ""},
		{"secret with //, in a clause with comments", "# x\nkey \"k\" { algorithm hmac-sha256; secret \"ab//cd+/ef==\"; }; // end\n",
			TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: "ab//cd+/ef=="}, ""},
		{"colon form with //", "hmac-sha256:k:ab//cd+/ef== // comment\n", TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: "ab//cd+/ef=="}, ""},
		{"colon form", "hmac-sha256:oemesh-b.example:" + secret + "\n", want, ""},
		{"colon form, default algorithm", "oemesh-b.example.:" + secret, want, ""},
		{"sha512", "hmac-sha512:k:" + secret, TSIGKey{Name: "k.", Algorithm: dns.HmacSHA512, Secret: secret}, ""},
		{"empty", "  \n# nothing\n", TSIGKey{}, "empty"},
		{"md5", "hmac-md5:k:" + secret, TSIGKey{}, `unsupported TSIG algorithm "hmac-md5"`},
		{"bad base64", "hmac-sha256:k:not*base64", TSIGKey{}, "secret of key k. is not base64"},
		{"no secret", `key "k" { algorithm hmac-sha256; };`, TSIGKey{}, "without a secret"},
		{"no algorithm", `key "k" { secret "` + secret + `"; };`, TSIGKey{}, "without an algorithm"},
		{"unknown statement", `key "k" { algorithm hmac-sha256; secret "` + secret + `"; owner x; };`, TSIGKey{}, `unknown statement "owner"`},
		{"two keys", `key "k" { algorithm hmac-sha256; secret "` + secret + `"; }; key "l" { algorithm hmac-sha256; secret "` + secret + `"; };`, TSIGKey{}, "one key clause per file"},
		{"algorithm twice", `key "k" { algorithm hmac-sha256; algorithm hmac-sha1; secret "` + secret + `"; };`, TSIGKey{}, "algorithm given twice"},
		{"no name", `key { algorithm hmac-sha256; secret "` + secret + `"; };`, TSIGKey{}, "without a name"},
		{"words", "this is not a key", TSIGKey{}, "neither a key clause"},
		{"four fields", "a:b:c:d", TSIGKey{}, "want ALGORITHM:NAME:SECRET"},
		{"bad name", `hmac-sha256:a..b:` + secret, TSIGKey{}, "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTSIGKey(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), secret[:24]) {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadTSIGKeyMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tsig.key")
	if err := os.WriteFile(p, []byte("hmac-sha256:k:"+secret), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTSIGKey(p); err == nil || !strings.Contains(err.Error(), "has mode 0640") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0640 key file: err = %v, want the mode and the fix named", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadTSIGKey(p)
	if err != nil || k.Name != "k." {
		t.Fatalf("a 0600 key file: %+v, %v", k, err)
	}
	if _, err := LoadTSIGKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing key file loaded")
	}
}

func FuzzParseTSIGKey(f *testing.F) {
	f.Add(`key "k" { algorithm hmac-sha256; secret "` + secret + `"; };`)
	f.Add("hmac-sha256:k:" + secret)
	f.Add("k:" + secret)
	f.Add("key { } ; } {")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParseTSIGKey(text)
		if err != nil {
			return
		}
		// What parses must be usable: a known algorithm, a domain name,
		// and a secret that decodes.
		if _, ok := dns.IsDomainName(k.Name); !ok || !strings.HasSuffix(k.Name, ".") {
			t.Fatalf("name %q", k.Name)
		}
		if k.Algorithm != dns.HmacSHA1 && k.Algorithm != dns.HmacSHA224 && k.Algorithm != dns.HmacSHA256 &&
			k.Algorithm != dns.HmacSHA384 && k.Algorithm != dns.HmacSHA512 {
			t.Fatalf("algorithm %q", k.Algorithm)
		}
		if _, err := (TSIGKey{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}).check(); err != nil {
			t.Fatalf("accepted key fails its own check: %v", err)
		}
	})
}
