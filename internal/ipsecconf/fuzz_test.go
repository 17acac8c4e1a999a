package ipsecconf

import (
	"strings"
	"testing"
)

func FuzzParseConvert(f *testing.F) {
	f.Add("conn %default\n\tkeyingtries=0\nconn a\n\talso=b\n\tleft=192.0.2.1\n\tright=%any\nconn b\n\tleftsubnet=10.0.0.0/8\n")
	f.Add("config setup\n\tuniqueids=yes\nconn x\n\tleft=1.2.3.4\n\tright=5.6.7.8\n\trightrsasigkey=0sAQNz\n\tkeylife=1d\n")
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
