package ipsecconf

import (
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike"
)

func TestConvertProposals(t *testing.T) {
	// strongSwan syntax naming what oemesh does not implement (SHA-1,
	// MD5, 3DES): the conns refuse it when they are loaded.
	notOurs := map[string]bool{"3des-sha1;modp1536": true, "3des-md5": true}
	for _, tc := range []struct {
		kind     proposalKind
		in, want string
		warn     string // a substring of the one warning, or "" for none
	}{
		// Libreswan 5.4's additional key exchanges.
		{ikeProposals, "aes256-sha2;dh19;addke1=ml_kem_768", "aes256-sha256-ecp256-ke1_mlkem768", ""},
		{ikeProposals, "aes_gcm256-sha2_384;dh31;addke1=ml_kem_768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", ""},
		{ikeProposals, "aes_gcm256-sha2_384;dh31;addke1=ml_kem_768+none", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", ""},
		{ikeProposals, "aes_gcm256-sha2;dh20;addke1=none;addke2=ml_kem_1024", "aes256gcm16-prfsha256-ecp384-ke1_none-ke2_mlkem1024", ""},
		{ikeProposals, "aes_gcm256-sha2;kem=dh31;addke1=ml_kem_768;addke3=ml_kem_1024+ml_kem_768;addke7=none",
			"aes256gcm16-prfsha256-x25519-ke1_mlkem768-ke3_mlkem1024-ke3_mlkem768-ke7_none", ""},
		// A list after ';': the main exchange, then ADDKE1 and on.
		{ikeProposals, "aes-sha2;dh20-ml_kem_768-ml_kem_1024", "aes256-aes128-sha256-ecp384-ke1_mlkem768-ke2_mlkem1024", ""},
		{ikeProposals, "aes-sha2;dh19;ml_kem_768", "aes256-aes128-sha256-ecp256-ke1_mlkem768", ""},
		// ML-KEM-512 is dropped with a warning.
		{ikeProposals, "aes256-sha2;dh19;addke1=ml_kem_768+ml_kem_512", "aes256-sha256-ecp256-ke1_mlkem768", "ml_kem_512 as ADDKE1 is dropped: ML-KEM-512 is not implemented by oemesh"},
		{ikeProposals, "aes256-sha2;dh19;addke1=ml_kem_512", "aes256-sha256-ecp256", "the only method of ADDKE1, so the conn negotiates without that additional key exchange"},
		{ikeProposals, "aes256-sha2;ml_kem_512+dh19", "aes256-sha256-ecp256", "ml_kem_512 as the key exchange is dropped"},
		// ML-KEM alone as the main exchange.
		{ikeProposals, "aes_gcm256-sha2_384;ml_kem_1024", "aes256gcm16-prfsha384-mlkem1024", ""},
		// Classical forms: '-' or ';' before the group, '+' alternatives,
		// key lengths, integrity and PRF apart, several proposals.
		{ikeProposals, "aes256-sha2_256-modp2048", "aes256-sha256-modp2048", ""},
		{ikeProposals, "aes-128-sha2_512;dh14", "aes128-sha512-modp2048", ""},
		{ikeProposals, "aes_gcm+chacha20_poly1305-sha2_512+sha2_256;dh19+dh31", "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha512-prfsha256-ecp256-x25519", ""},
		{ikeProposals, "aes_gcm-none-sha2;modp2048", "aes256gcm16-aes128gcm16-prfsha256-modp2048", ""},
		{ikeProposals, "aes-sha2_384-sha2-ecp_521", "aes256-aes128-sha384-prfsha256-ecp521", ""},
		{ikeProposals, "aes-sha2;prf=sha2_512;kem=dh20", "aes256-aes128-sha256-prfsha512-ecp384", ""},
		{ikeProposals, "AES256-SHA2;DH19, aes128-sha2_512-modp2048", "aes256-sha256-ecp256,aes128-sha512-modp2048", ""},
		{ikeProposals, "3des-sha1;modp1536", "3des-sha1-modp1536", ""},
		{espProposals, "3des-md5", "3des-md5", ""},
		// ESP: none is no PFS; an AEAD may say null or none for integrity.
		{espProposals, "aes_gcm256", "aes256gcm16", ""},
		{espProposals, "aes_gcm256-null", "aes256gcm16", ""},
		{espProposals, "aes256-sha2;none", "aes256-sha256", ""},
		{espProposals, "aes_gcm256;dh31;addke1=ml_kem_768+none", "aes256gcm16-x25519-ke1_mlkem768-ke1_none", ""},
		{espProposals, "aes-sha2-modp2048,aes_gcm128", "aes256-aes128-sha256-modp2048,aes128gcm16", ""},
	} {
		got, warns, _, err := convertProposals(tc.kind, tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
		switch {
		case tc.warn == "" && len(warns) > 0:
			t.Errorf("%q: unexpected warnings %q", tc.in, warns)
		case tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)):
			t.Errorf("%q: warnings %q, want one with %q", tc.in, warns, tc.warn)
		}
		// What comes out is strongSwan's syntax as oemesh reads it.
		protocol := ike.ProtocolIKE
		if tc.kind == espProposals {
			protocol = ike.ProtocolESP
		}
		if _, err := ike.ParseProposalSpecs(protocol, got); err != nil && !notOurs[tc.in] {
			t.Errorf("%q: the conversion %q is not strongSwan syntax oemesh reads: %v", tc.in, got, err)
		}
	}
}

func TestConvertProposalsDefaults(t *testing.T) {
	// What strongSwan's syntax needs and Libreswan leaves to its defaults
	// is written out, with a note.
	got, warns, notes, err := convertProposals(ikeProposals, "aes_gcm256;addke1=ml_kem_768")
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	if want := "aes256gcm16-prfsha512-prfsha256-ecp256-ecp384-ecp521-x25519-modp4096-modp3072-modp2048-ke1_mlkem768"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "names no PRF") || !strings.Contains(notes[1], "names no key exchange method") {
		t.Errorf("notes %q", notes)
	}
	got, _, notes, err = convertProposals(espProposals, "aes256")
	if err != nil || got != "aes256-sha512-sha256" || len(notes) != 1 || !strings.Contains(notes[0], "names no integrity algorithm") {
		t.Errorf("esp=aes256: %q %q %v", got, notes, err)
	}
}

func TestConvertProposalsErrors(t *testing.T) {
	for _, tc := range []struct {
		kind     proposalKind
		in, want string
	}{
		{ikeProposals, "aes256-sha2;dh19;addke1=ml_kem_999", `proposal 1 "aes256-sha2;dh19;addke1=ml_kem_999": addke1: unknown key exchange method "ml_kem_999"`},
		{ikeProposals, "aes256-sha2;dh19;addke8=ml_kem_768", `"addke8": unknown setting`},
		{ikeProposals, "aes256-sha2;dh19;addke1=", `addke1: empty key exchange method`},
		{ikeProposals, "aes256-sha2;dh19;addke1=ml_kem_768+", `addke1: empty key exchange method`},
		{ikeProposals, "aes256-sha2,aes-sha2;frodo", `proposal 2 "aes-sha2;frodo": unknown key exchange method "frodo"`},
		{ikeProposals, "vanity-sha2;dh19", `unknown encryption algorithm "vanity"`},
		{ikeProposals, "aes-sha3;dh19", `unknown key exchange method "sha3"`},
		{ikeProposals, "aes+aes_gcm-sha2;dh19", "combined-mode (AEAD) and other ciphers in one proposal"},
		{ikeProposals, "aes_gcm-sha1-sha2;dh19", "an AEAD cipher takes no integrity algorithm"},
		{ikeProposals, "aes-none;dh19", "only an AEAD cipher goes without one"},
		{ikeProposals, "aes-sha2;none", "key exchange none: IKE needs one"},
		{ikeProposals, "aes-sha2;ml_kem_512", "no key exchange method oemesh can do"},
		{ikeProposals, "aes-sha2-dh19-dh20", "write additional ones after a ';'"},
		{ikeProposals, "aes-sha2;;dh19", "empty algorithm"},
		{ikeProposals, "aes--sha2", "empty algorithm"},
		{ikeProposals, "aes,", "empty proposal"},
		{ikeProposals, "3des-512-sha1", "only AES takes one"},
		{ikeProposals, "aes-512-sha1", "AES has 128, 192 or 256 bits"},
		{espProposals, "aes_gcm-sha2", "an AEAD cipher takes no integrity algorithm"},
		{espProposals, "aes-sha2;dh19;dh20;dh21;dh14;dh15;dh16;dh17;dh18-dh31", "more than seven additional key exchanges"},
	} {
		_, _, _, err := convertProposals(tc.kind, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestImportAddKE(t *testing.T) {
	conf := `conn pq
	left=192.0.2.1
	right=198.51.100.1
	authby=secret
	ike=aes_gcm256-sha2_512;dh31;addke1=ml_kem_768+ml_kem_512
	esp=aes_gcm256;addke1=ml_kem_1024+none
	auto=add
`
	res, cs := convert(t, conf, Options{})
	if len(cs) != 1 || cs[0].IKE != "aes256gcm16-prfsha512-x25519-ke1_mlkem768" || cs[0].ESP != "aes256gcm16-ke1_mlkem1024-ke1_none" {
		t.Fatalf("converted %+v\n%s", cs, res.YAML())
	}
	if len(res.Unsupported) != 1 {
		t.Fatalf("problems: %v", res.Unsupported)
	}
	p := res.Unsupported[0]
	if p.File != "ipsec.conf" || p.Line != 5 || p.Conn != "pq" || !strings.HasPrefix(p.Key, "ike=") || !strings.Contains(p.Why, "ml_kem_512 as ADDKE1 is dropped") {
		t.Errorf("problem %+v", p)
	}
	y := res.YAML()
	if !strings.Contains(y, "ipsec.conf:5: conn pq: ike=aes_gcm256-sha2_512;dh31;addke1=ml_kem_768+ml_kem_512: ") {
		t.Errorf("the warning does not name file, line and setting:\n%s", y)
	}
	// An unknown method is an error naming the file, line, conn and method.
	f, err := Parse(strings.NewReader(strings.Replace(conf, "ml_kem_512", "ml_kem_333", 1)), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Convert(f, Options{})
	if err == nil || !strings.Contains(err.Error(), `ipsec.conf:5: conn pq: ike: proposal 1 "aes_gcm256-sha2_512;dh31;addke1=ml_kem_768+ml_kem_333": addke1: unknown key exchange method "ml_kem_333"`) {
		t.Errorf("unknown method: %v", err)
	}
}

func TestImportStrongSwanProposals(t *testing.T) {
	// A strongSwan (stroke) ipsec.conf writes strongSwan's syntax already:
	// what is not Libreswan's is passed on as written, with a note.
	res, cs := convert(t, "conn s\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tike=aes128gcm16-prfsha256-ecp256!\n\tesp=aes128gcm16-ke1_none\n", Options{})
	if cs[0].IKE != "aes128gcm16-prfsha256-ecp256!" || cs[0].ESP != "aes128gcm16-ke1_none" || len(res.Unsupported) != 0 {
		t.Errorf("converted %+v, problems %v", cs[0], res.Unsupported)
	}
	if !strings.Contains(res.YAML(), "ike=aes128gcm16-prfsha256-ecp256! (line 4) is passed on as written") {
		t.Errorf("no note:\n%s", res.YAML())
	}
	// Libreswan's own syntax with an error stays an error.
	f, err := Parse(strings.NewReader("conn s\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tesp=aes128gcm16;dh19\n"), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(f, Options{}); err == nil || !strings.Contains(err.Error(), `ipsec.conf:4: conn s: esp: proposal 1 "aes128gcm16;dh19": unknown encryption algorithm "aes128gcm16"`) {
		t.Errorf("got %v", err)
	}
}
