package config

import (
	"bytes"
	"testing"

	"github.com/spf13/viper"
)

// FuzzParseConns feeds YAML documents through viper into ParseConns: any
// input yields conns or an error, never a panic.
func FuzzParseConns(f *testing.F) {
	f.Add([]byte(netToNet))
	f.Add([]byte("conns: [{name: a, remote: 198.51.100.1, dpd: {interval: 5s, action: restart}, keying_tries: 3}]\n"))
	f.Add([]byte("conns: [{name: 1, remote: [x], local_subnets: 7, dpd: []}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := viper.New()
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(b)); err != nil || !v.IsSet("conns") {
			return
		}
		cs, err := ParseConns(v.Get("conns"), "fuzz")
		if err == nil {
			for _, c := range cs {
				_ = c.Summary()
			}
		}
	})
}
