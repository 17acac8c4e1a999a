package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

// TestParseIKEFlagAddKE: strongSwan's keN_ keywords on --ike. The probe
// offers ML-KEM as written and checks the peer's choice against what
// oemesh can run (ML-KEM-768 or NONE here); respond, which accepts what it
// names, takes ke1_mlkem768 and ke1_none and refuses ke1_mlkem512.
func TestParseIKEFlagAddKE(t *testing.T) {
	const optional = "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none"
	p, offer, err := parseIKEFlag(optional, true)
	if err != nil {
		t.Fatalf("probe --ike %s: %v", optional, err)
	}
	if len(offer) != 1 {
		t.Fatalf("probe --ike %s: offer %+v, want one proposal", optional, offer)
	}
	var addke []ike.Transform
	for _, x := range offer[0].Transforms {
		if x.Type.AddKE() != 0 {
			addke = append(addke, x)
		}
	}
	if want := []ike.Transform{{Type: ike.TransformADDKE1, ID: uint16(ike.DHMLKEM768)}, {Type: ike.TransformADDKE1}}; !reflect.DeepEqual(addke, want) {
		t.Errorf("probe --ike %s: offers ADDKE %v, want %v", optional, addke, want)
	}
	if !reflect.DeepEqual(p.AddKE, [7][]ike.DHGroup{{ike.DHMLKEM768, ike.DHNone}}) {
		t.Errorf("probe --ike %s: policy AddKE %v, want ADDKE1 ML_KEM_768 or NONE", optional, p.AddKE)
	}

	if p, _, err := parseIKEFlag(optional, false); err != nil || !reflect.DeepEqual(p.AddKE, [7][]ike.DHGroup{{ike.DHMLKEM768, ike.DHNone}}) {
		t.Errorf("respond --ike %s: policy AddKE %v, %v; want ADDKE1 ML_KEM_768 or NONE", optional, p.AddKE, err)
	}
	if _, _, err := parseIKEFlag("aes256gcm16-prfsha384-x25519-ke1_mlkem512", false); err == nil || !strings.Contains(err.Error(), "ADDKE1 ML_KEM_512: key exchange method not implemented") {
		t.Errorf("respond --ike ...-ke1_mlkem512: %v, want a refusal", err)
	}
	p, offer, err = parseIKEFlag("aes256gcm16-prfsha384-x25519-ke1_none", false)
	if err != nil || offer != nil || !reflect.DeepEqual(p.AddKE, [7][]ike.DHGroup{{ike.DHNone}}) {
		t.Errorf("respond --ike ...-ke1_none: policy AddKE %v, offer %v, %v; want ADDKE1 NONE and the policy's own offer", p.AddKE, offer, err)
	}
}

// TestToolFlagsPQ: without --ike the tools use oemeshd's default IKE
// policy for the --pq mode, prefer when none is given; --pq beside --ike
// is refused rather than ignored.
func TestToolFlagsPQ(t *testing.T) {
	for _, tc := range []struct {
		pq   string
		want ike.Policy
	}{
		{"", ike.PQPrefer.IKEPolicy()},
		{"prefer", ike.PQPrefer.IKEPolicy()},
		{"require", ike.PQRequire.IKEPolicy()},
		{"off", ike.DefaultIKEPolicy()},
	} {
		f := ikeToolFlags{pq: tc.pq}
		got, err := f.defaultIKEPolicy()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("--pq %q: %+v, %v; want %+v", tc.pq, got, err, tc.want)
		}
	}
	if p := ike.PQPrefer.IKEPolicy(); !p.OfferClassical || !reflect.DeepEqual(p.AddKE[0], []ike.DHGroup{ike.DHMLKEM768, ike.DHNone}) {
		t.Errorf("the tools' default offers ADDKE1 %v, classical fallback %v; want ML_KEM_768 or NONE, then classical", p.AddKE[0], p.OfferClassical)
	}
	for _, tc := range []struct {
		f    ikeToolFlags
		want string
	}{
		{ikeToolFlags{pq: "on"}, `--pq: ike: post-quantum mode "on": must be prefer, require or off`},
		{ikeToolFlags{pq: "off", ikeProps: "aes128gcm16-prfsha256-x25519"}, "--pq off and --ike"},
	} {
		if _, err := tc.f.defaultIKEPolicy(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want an error containing %q", tc.f, err, tc.want)
		}
	}
}
