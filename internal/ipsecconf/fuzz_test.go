package ipsecconf

import (
	"strings"
	"testing"
)

func FuzzParseConvert(f *testing.F) {
	f.Add("conn %default\n\tkeyingtries=0\nconn a\n\talso=b\n\tleft=192.0.2.1\n\tright=%any\nconn b\n\tleftsubnet=10.0.0.0/8\n")
	f.Add("config setup\n\tuniqueids=yes\nconn x\n\tleft=1.2.3.4\n\tright=5.6.7.8\n\trightrsasigkey=0sAQNz\n\tkeylife=1d\n")
	f.Add("conn pq\n\tleft=1.2.3.4\n\tright=5.6.7.8\n\tike=aes_gcm256-sha2;dh31;addke1=ml_kem_768+none;addke2=ml_kem_512\n\tesp=aes_gcm256;dh31-ml_kem_1024\n")
	f.Fuzz(func(t *testing.T, s string) {
		file, err := Parse(strings.NewReader(s), "f")
		if err != nil {
			return
		}
		res, err := Convert(file, Options{})
		if err == nil {
			_ = res.YAML()
		}
	})
}

func FuzzParseSecrets(f *testing.F) {
	f.Add("@a @b : PSK \"x\"\n: RSA {\n}\n2001:db8::1 : PSK 0x00\n")
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := ParseSecrets(strings.NewReader(s), "f")
		if err == nil {
			sec.PSK("@a", "@b")
		}
	})
}

func FuzzConvertProposals(f *testing.F) {
	for _, s := range []string{"aes256-sha2;dh19;addke1=ml_kem_768", "aes_gcm-none-sha2;kem=dh31;addke1=ml_kem_768+none;addke7=ml_kem_512",
		"aes-128-sha2_512-modp2048,aes_gcm256;dh20-ml_kem_1024", "3des-md5;none", "aes;prf=sha2;integ=sha2_384"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []proposalKind{ikeProposals, espProposals} {
			out, _, _, err := convertProposals(kind, s)
			if err == nil && out == "" {
				t.Errorf("%q: no error and no proposals", s)
			}
		}
	})
}
