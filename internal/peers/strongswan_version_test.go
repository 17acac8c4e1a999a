package peers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A proposal with an RFC 9370 additional key exchange is refused for strongSwan 5.9 (which
// would reject it at load time with a less helpful message) and written as is for 6.1.
func TestStrongSwanConfigAdditionalKE(t *testing.T) {
	for _, tc := range []struct {
		ike, esp string
		bad5     bool
	}{
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16", true},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", "aes256gcm16", true},
		{"aes256gcm16-prfsha384-x25519", "aes256gcm16-x25519-ke1_mlkem768", true},
		{"aes256gcm16-prfsha384-x25519", "aes256gcm16-x25519", false},
		{"aes128-sha256-ecp384", "aes128-sha256", false},
	} {
		conn := StrongSwanConn{Name: "c", Local: StrongSwanAuth{Method: AuthPSK}, Remote: StrongSwanAuth{Method: AuthPSK}, PSK: "x",
			Proposals: []string{tc.ike}, Children: []StrongSwanChild{{Name: "h", ESPProposals: []string{tc.esp}}}}
		err := (&StrongSwanConfig{Conns: []StrongSwanConn{conn}}).validate()
		if tc.bad5 && (err == nil || !strings.Contains(err.Error(), "use Version StrongSwan6")) {
			t.Errorf("%s / %s on 5.9: %v, want an error naming StrongSwan6", tc.ike, tc.esp, err)
		}
		if !tc.bad5 && err != nil {
			t.Errorf("%s / %s on 5.9: %v", tc.ike, tc.esp, err)
		}
		cfg := StrongSwanConfig{Version: StrongSwan6, Conns: []StrongSwanConn{conn}}
		dir := t.TempDir()
		if err := cfg.writeFiles(dir); err != nil {
			t.Errorf("%s / %s on 6.1: %v", tc.ike, tc.esp, err)
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, "swanctl", "swanctl.conf"))
		for _, want := range []string{"proposals = " + tc.ike, "esp_proposals = " + tc.esp} {
			if !strings.Contains(string(b), want) {
				t.Errorf("swanctl.conf lacks %q:\n%s", want, b)
			}
		}
	}
}

// strongSwan 6 runs in the chroot: its strongswan.conf names the instance directory as the
// chroot sees it, and its command line does the mounts in a private mount namespace.
func TestStrongSwan6Command(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{".oemesh-installed", "usr/sbin/charon-systemd", "usr/sbin/swanctl"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in := &Install{StrongSwan6Root: root, Unshare: "/usr/bin/unshare", Sh: "/bin/sh", Charon: "/w/charon-systemd", Swanctl: "/w/swanctl"}
	dir := "/tmp/oemesh-ssw-x"
	argv, env, err := StrongSwan6.command(in, dir, "/usr/sbin/swanctl", "--list-algs")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", chrootMounts, root, dir, "/usr/sbin/swanctl", "--list-algs"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv %q,\nwant %q", argv, want)
	}
	for _, e := range []string{"STRONGSWAN_CONF=/run/oemesh/strongswan.conf", "SWANCTL_DIR=/run/oemesh/swanctl"} {
		if !slices.Contains(env, e) {
			t.Errorf("env %q lacks %s", env, e)
		}
	}
	// 5.9 runs the wrappers with the host paths.
	argv, env, err = StrongSwan5.command(in, dir, "/usr/sbin/charon-systemd")
	if err != nil || !slices.Equal(argv, []string{"/w/charon-systemd"}) || !slices.Contains(env, "STRONGSWAN_CONF="+dir+"/strongswan.conf") {
		t.Errorf("5.9: %q %q %v", argv, env, err)
	}
	// a missing chroot is an error that says how to install it
	in.StrongSwan6Root = filepath.Join(root, "nothing")
	if _, _, err := StrongSwan6.command(in, dir, "/usr/sbin/charon-systemd"); err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("missing chroot: %v", err)
	}
	cfg := StrongSwanConfig{Version: StrongSwan6}
	out := t.TempDir()
	if err := cfg.writeFiles(out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(out, "strongswan.conf"))
	for _, want := range []string{"socket = unix:///run/oemesh/charon.vici", "path = /run/oemesh/charon.log", "strongSwan 6.1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("strongswan.conf lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), out) {
		t.Errorf("strongswan.conf names the host path %s, which charon in the chroot cannot see:\n%s", out, b)
	}
}

// list-sas' additional key exchanges (ake1..ake7) and get-algorithms' answer decode.
func TestParseStrongSwan6Replies(t *testing.T) {
	sa := NewViciMessage()
	sa.Set("state", "ESTABLISHED")
	sa.Set("dh-group", "CURVE_25519")
	sa.Set("ake1", "ML_KEM_768")
	sa.Set("ake2", "ML_KEM_1024")
	ev := NewViciMessage()
	ev.SetSection("pq", sa)
	sas, err := parseListSA(ev)
	if err != nil || len(sas) != 1 {
		t.Fatalf("parseListSA: %v %v", sas, err)
	}
	if got := sas[0].AdditionalKE; !slices.Equal(got, []string{"ML_KEM_768", "ML_KEM_1024"}) {
		t.Errorf("AdditionalKE %q", got)
	}
	ke := NewViciMessage()
	ke.Set("ML_KEM_768", "openssl")
	ke.Set("CURVE_25519", "openssl")
	algs := NewViciMessage()
	algs.SetSection("ke", ke)
	got, err := parseAlgorithms(algs)
	if err != nil || !slices.Equal(got["ke"], []string{"CURVE_25519", "ML_KEM_768"}) {
		t.Errorf("parseAlgorithms: %v %v", got, err)
	}
	algs.Set("bogus", "x")
	if _, err := parseAlgorithms(algs); err == nil {
		t.Error("a non-section type was accepted")
	}
}
