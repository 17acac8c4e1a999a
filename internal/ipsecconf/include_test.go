package ipsecconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadIncludes: Debian's default /etc/ipsec.conf includes
// /etc/ipsec.d/*.conf; relative patterns are the including file's
// directory's; included sections sit where the include line is.
func TestLoadIncludes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"ipsec.conf":          "config setup\n\tuniqueids=yes\ninclude ipsec.d/*.conf\nconn last\n\tleft=192.0.2.1\n\tright=198.51.100.9\n",
		"ipsec.d/a.conf":      "conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tplutodebug=all\ninclude sub/*.conf\n",
		"ipsec.d/b.conf":      "conn b\n\tleft=192.0.2.1\n\tright=198.51.100.2\n",
		"ipsec.d/sub/c.conf":  "conn c\n\talso=b\n\tright=198.51.100.3\n",
		"ipsec.d/notconf.txt": "garbage\n",
		"ipsec.d/none/x.conf": "conn x\n\tleft=192.0.2.1\n\tright=198.51.100.4\n", // not matched by *.conf one level down
	})
	f, err := Load(filepath.Join(dir, "ipsec.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Kind+" "+s.Name)
	}
	if got := strings.Join(names, ", "); got != "config setup, conn a, conn c, conn b, conn last" {
		t.Errorf("sections %s", got)
	}
	res, err := Convert(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Conns) != 4 {
		t.Errorf("conns %+v", res.Conns)
	}
	// A problem in an included file names that file and its line.
	want := filepath.Join(dir, "ipsec.d/a.conf") + ":4: conn a: plutodebug=all"
	if len(res.Unsupported) != 1 || !strings.HasPrefix(res.Unsupported[0].String(), want) {
		t.Errorf("unsupported %v, want %s", res.Unsupported, want)
	}
}

func TestLoadIncludeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // error, with {dir} for the directory
		drop  string // or a problem
	}{{
		name:  "a cycle",
		files: map[string]string{"ipsec.conf": "include a.conf\n", "a.conf": "include b.conf\n", "b.conf": "\ninclude a.conf\n"},
		want:  "{dir}/b.conf:2: include a.conf: {dir}/a.conf includes itself ({dir}/a.conf → {dir}/b.conf → {dir}/a.conf)",
	}, {
		name:  "a file including itself",
		files: map[string]string{"ipsec.conf": "include ipsec.conf\n"},
		want:  "{dir}/ipsec.conf:1: include ipsec.conf: {dir}/ipsec.conf includes itself",
	}, {
		name:  "a conn defined in two files",
		files: map[string]string{"ipsec.conf": "conn a\n\tright=192.0.2.1\ninclude d/*.conf\n", "d/x.conf": "\nconn a\n\tright=192.0.2.2\n"},
		want:  "{dir}/d/x.conf:2: conn a is defined twice (first at {dir}/ipsec.conf:1)",
	}, {
		name:  "a syntax error in an included file",
		files: map[string]string{"ipsec.conf": "include x.conf\n", "x.conf": "conn a\n\tnokey\n"},
		want:  "{dir}/x.conf:2: want key=value",
	}, {
		name:  "a pattern that matches nothing",
		files: map[string]string{"ipsec.conf": "include /nonexistent/*.conf\n"},
		drop:  "{dir}/ipsec.conf:1: include /nonexistent/*.conf: matches no file",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			expand := func(s string) string { return strings.ReplaceAll(s, "{dir}", dir) }
			f, err := Load(filepath.Join(dir, "ipsec.conf"))
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), expand(tc.want)) {
					t.Fatalf("error %v, want %s", err, expand(tc.want))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Unsupported) != 1 || res.Unsupported[0].String() != expand(tc.drop) {
				t.Errorf("unsupported %v, want %s", res.Unsupported, expand(tc.drop))
			}
		})
	}
}

// TestLoadSecretsIncludes: Debian's /etc/ipsec.secrets is only `include
// /etc/ipsec.d/*.secrets`; every included file must be 0600 too.
func TestLoadSecretsIncludes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"ipsec.secrets":     "include ipsec.d/*.secrets\n",
		"ipsec.d/a.secrets": "@a @b : PSK \"ab\"\n",
		"ipsec.d/b.secrets": "\n@a @c : PSK \"ac\"\n",
		"ipsec.d/loop.conf": "",
	})
	s, err := LoadSecrets(filepath.Join(dir, "ipsec.secrets"))
	if err != nil {
		t.Fatal(err)
	}
	k, _, ok := s.PSK("@a", "@c")
	if !ok || string(k) != "ac" || len(s.Entries) != 2 || s.Entries[1].File != filepath.Join(dir, "ipsec.d/b.secrets") || s.Entries[1].Line != 2 {
		t.Errorf("entries %+v", s.Entries)
	}
	os.Chmod(filepath.Join(dir, "ipsec.d/b.secrets"), 0o644)
	if _, err := LoadSecrets(filepath.Join(dir, "ipsec.secrets")); err == nil || !strings.Contains(err.Error(), "b.secrets has mode 0644") {
		t.Errorf("a readable included secrets file: %v", err)
	}
	os.Chmod(filepath.Join(dir, "ipsec.d/b.secrets"), 0o600)
	os.WriteFile(filepath.Join(dir, "ipsec.d/b.secrets"), []byte("include ../ipsec.secrets\n"), 0o600)
	if _, err := LoadSecrets(filepath.Join(dir, "ipsec.secrets")); err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Errorf("a secrets cycle: %v", err)
	}
}
