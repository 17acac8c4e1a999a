package policygroups

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestMatchJSON(t *testing.T) {
	p, _, err := load(t, map[string]string{"private": "\n192.0.2.0/24\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.9", `{"address":"192.0.2.9","group":"private","prefix":"192.0.2.0/24","source":"/p/private:2"}`},
		{"203.0.113.1", `{"address":"203.0.113.1","group":"clear","prefix":null,"source":"default"}`},
	} {
		b, err := json.Marshal(p.Lookup(netip.MustParseAddr(tc.addr)).Explain())
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.addr, b, err, tc.want)
		}
	}
}
