package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An error in a YAML file says FILE:LINE of the key, as policy errors do;
// values from the environment or flags have no line.
func TestErrorsSayFileLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "oemesh.yaml")
	if err := os.WriteFile(p, []byte("# comment\nlog:\n  level: info\nDNS:\n  servers: [127.0.0.1]\n  timeout: banana\nlisten_port: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{File: p, FileRequired: true})
	if err == nil {
		t.Fatal("a bad dns.timeout loaded")
	}
	for _, want := range []string{
		"config " + p + ": key dns.timeout: ",
		`"banana" (` + p + ":6)",
		`unknown key "listen_port"`,
		p + ":7)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	_, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_DNS_TIMEOUT=soon"}})
	if err == nil || strings.Contains(err.Error(), ":6)") {
		t.Errorf("an environment value's error points into the file: %v", err)
	}
}

func TestKeyLinesTOML(t *testing.T) {
	if got := keyLines("x.toml", "toml"); got != nil {
		t.Errorf("keyLines of TOML = %v, want none", got)
	}
}
