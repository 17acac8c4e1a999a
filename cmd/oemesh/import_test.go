package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/config"
)

func TestImportCLI(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ipsec.conf")
	secrets := filepath.Join(dir, "ipsec.secrets")
	os.WriteFile(conf, []byte(`config setup
	uniqueids=yes
	plutodebug=all

conn %default
	keyingtries=%forever
	authby=secret

conn office
	left=192.0.2.1
	leftsubnet=10.1.0.0/16
	right=198.51.100.1
	rightsubnet=10.2.0.0/16
	auto=start
	leftsourceip=10.1.0.1
`), 0o644)
	os.WriteFile(secrets, []byte("192.0.2.1 198.51.100.1 : PSK \"shared\"\n"), 0o644)
	r := run(t, "oemesh", "import", conf, "--secrets", secrets)
	if r.code == 0 || !strings.Contains(r.stderr, secrets+" has mode 0644") {
		t.Fatalf("a readable secrets file was accepted: %+v", r)
	}
	os.Chmod(secrets, 0o600)
	r = run(t, "oemesh", "import", conf, "--secrets", secrets, "--keydir", filepath.Join(dir, "keys"))
	if r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	for _, want := range []string{conf + ":3: config setup plutodebug", conf + ":15: conn office: leftsourceip=10.1.0.1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output does not list %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "2 setting(s) not carried over") {
		t.Errorf("stderr: %q", r.stderr)
	}
	out := filepath.Join(dir, "oemesh.yaml")
	os.WriteFile(out, []byte(r.stdout), 0o644)
	cs, err := config.LoadConns(out)
	if err != nil {
		t.Fatalf("oemeshd refuses the import: %v\n%s", err, r.stdout)
	}
	if len(cs) != 1 || cs[0].Auth != "psk" || cs[0].PSK != secrets || cs[0].Auto != "start" || cs[0].KeyingTries != 0 {
		t.Errorf("imported %+v", cs)
	}
	r = run(t, "oemesh", "import", filepath.Join(dir, "absent.conf"))
	if r.code == 0 || !strings.Contains(r.stderr, "absent.conf") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestImportCLIAddKE(t *testing.T) {
	// Libreswan 5.4's post-quantum proposals become strongSwan's keN_
	// syntax; ML-KEM-512, which oemesh cannot do, is dropped and listed.
	dir := t.TempDir()
	conf := filepath.Join(dir, "ipsec.conf")
	os.WriteFile(conf, []byte(`conn pq
	left=192.0.2.1
	right=198.51.100.1
	rightrsasigkey=%dns
	ike=aes_gcm256-sha2_384;dh31;addke1=ml_kem_768+ml_kem_512+none
	esp=aes_gcm256
	auto=add
`), 0o644)
	r := run(t, "oemesh", "import", conf, "--keydir", filepath.Join(dir, "keys"))
	if r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if want := conf + ":5: conn pq: ike=aes_gcm256-sha2_384;dh31;addke1=ml_kem_768+ml_kem_512+none: proposal 1"; !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, "ml_kem_512 as ADDKE1 is dropped: ML-KEM-512 is not implemented by oemesh") {
		t.Errorf("output does not list the dropped ML-KEM-512 as %q:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stderr, "1 setting(s) not carried over") {
		t.Errorf("stderr: %q", r.stderr)
	}
	out := filepath.Join(dir, "oemesh.yaml")
	os.WriteFile(out, []byte(r.stdout), 0o644)
	cs, err := config.LoadConns(out)
	if err != nil {
		t.Fatalf("oemeshd refuses the import: %v\n%s", err, r.stdout)
	}
	if len(cs) != 1 || cs[0].IKE != "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none" || cs[0].ESP != "aes256gcm16" {
		t.Errorf("imported %+v", cs)
	}
	// A method Libreswan does not have is an error naming file and line.
	os.WriteFile(conf, []byte("conn pq\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tike=aes256-sha2;dh19;addke1=kyber768\n"), 0o644)
	r = run(t, "oemesh", "import", conf)
	if r.code == 0 || !strings.Contains(r.stderr, conf+`:4: conn pq: ike: proposal 1 "aes256-sha2;dh19;addke1=kyber768": addke1: unknown key exchange method "kyber768"`) {
		t.Errorf("unknown method: %+v", r)
	}
}
