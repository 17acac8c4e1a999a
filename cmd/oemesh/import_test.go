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
