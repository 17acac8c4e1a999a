package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

// TestConnAddKE: conns take strongSwan's keN_ syntax. A conn that asks
// for an additional key exchange the engine cannot run is refused when the
// configuration is loaded, with ike's reason, naming the file, the conn and
// the key; keN_none alone is accepted.
func TestConnAddKE(t *testing.T) {
	conn := func(key, proposals string) string {
		return "conns: [{name: pq, local: 192.0.2.1, remote: 198.51.100.1, " + key + ": " + proposals + "}]\n"
	}
	for _, tc := range []struct {
		key, proposals string
		protocol       ike.ProtocolID
		// exchange is what ike names as missing today.
		exchange string
	}{
		{"ike", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", ike.ProtocolIKE, "IKE_INTERMEDIATE"},
		{"ike", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", ike.ProtocolIKE, "IKE_INTERMEDIATE"},
		{"ike", "aes256gcm16-prfsha384-ecp384-ke1_mlkem1024-ke2_mlkem768", ike.ProtocolIKE, "IKE_INTERMEDIATE"},
		{"esp", "aes256gcm16-x25519-ke1_mlkem768", ike.ProtocolESP, "IKE_FOLLOWUP_KE"},
	} {
		cfg := loadCfg(t, conn(tc.key, tc.proposals))
		_, ikeErr := ike.ParseProposals(tc.protocol, tc.proposals)
		var out bytes.Buffer
		err := checkConns(&out, cfg)
		_, readErr := (&daemon{cfg: cfg}).readConns()
		if ikeErr == nil {
			// The engine runs additional key exchanges now: the conn
			// loads.
			if err != nil || readErr != nil {
				t.Errorf("%s: %s: ike accepts it, the conn load does not: %v / %v", tc.key, tc.proposals, err, readErr)
			}
			continue
		}
		if !strings.Contains(ikeErr.Error(), tc.exchange) {
			t.Errorf("%s: ike's refusal does not name %s: %v", tc.proposals, tc.exchange, ikeErr)
		}
		want := cfg.File + ": conn pq: key " + tc.key + ": " + ikeErr.Error()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %s: --check-config got %v, want %q", tc.key, tc.proposals, err, want)
		}
		// The daemon refuses it before the stack starts.
		if readErr == nil || !strings.Contains(readErr.Error(), want) {
			t.Errorf("%s: %s: loading the conns got %v, want %q", tc.key, tc.proposals, readErr, want)
		}
	}

	// keN_none alone: the transform is offered, and accepted, without
	// the exchange.
	for _, tc := range []struct{ key, proposals string }{
		{"ike", "aes256gcm16-prfsha384-x25519-ke1_none"},
		{"esp", "aes256gcm16-x25519-ke1_none-ke2_none"},
	} {
		cfg := loadCfg(t, conn(tc.key, tc.proposals))
		var out bytes.Buffer
		if err := checkConns(&out, cfg); err != nil || !strings.Contains(out.String(), "conns: 1 ok") {
			t.Fatalf("%s: %s: %v %q", tc.key, tc.proposals, err, out.String())
		}
		d := &daemon{cfg: cfg}
		conns, err := d.readConns()
		if err != nil {
			t.Fatal(err)
		}
		d.startConns = conns
		oc, err := d.toOE(conns[0], cfg.File)
		if err != nil {
			t.Fatal(err)
		}
		p := oc.IKE
		if tc.key == "esp" {
			p = oc.ESP
		}
		if !slices.Equal(p.AddKE[0], []ike.DHGroup{ike.DHNone}) {
			t.Errorf("%s: %s: ADDKE1 %v, want NONE", tc.key, tc.proposals, p.AddKE[0])
		}
	}
}
