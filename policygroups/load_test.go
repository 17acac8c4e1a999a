package policygroups

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeResolver answers host names from a map; anything else is NXDOMAIN.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	as, ok := r[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	var out []netip.Addr
	for _, a := range as {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func load(t *testing.T, files map[string]string, r HostResolver) (*Policy, []Warning, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return LoadFS(context.Background(), fsys, "/p", LoadOptions{Resolver: r})
}

func TestLoadMostSpecificWins(t *testing.T) {
	p, warns, err := load(t, map[string]string{
		"private-or-clear": "192.0.2.0/24\n2001:db8::/32\n",
		"clear":            "192.0.2.1\n",
		"private":          "192.0.2.128/25\n",
		"block":            "2001:db8:dead::/48\n",
		"clear-or-private": "198.51.100.0/24\n",
	}, nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warnings %v", err, warns)
	}
	tests := []struct {
		addr, group, prefix, source string
	}{
		{"192.0.2.1", "clear", "192.0.2.1/32", "/p/clear:1"},
		{"192.0.2.2", "private-or-clear", "192.0.2.0/24", "/p/private-or-clear:1"},
		{"192.0.2.200", "private", "192.0.2.128/25", "/p/private:1"},
		{"2001:db8:dead::1", "block", "2001:db8:dead::/48", "/p/block:1"},
		{"2001:db8::1", "private-or-clear", "2001:db8::/32", "/p/private-or-clear:2"},
		{"198.51.100.9", "clear-or-private", "198.51.100.0/24", "/p/clear-or-private:1"},
		{"::ffff:192.0.2.2", "private-or-clear", "192.0.2.0/24", "/p/private-or-clear:1"},
		{"203.0.113.1", "clear", "", ""},
	}
	for _, tc := range tests {
		m := p.Lookup(netip.MustParseAddr(tc.addr))
		if m.Group.String() != tc.group {
			t.Errorf("%s: group %s, want %s", tc.addr, m.Group, tc.group)
		}
		if tc.prefix == "" {
			if !m.Default() {
				t.Errorf("%s: matched %v, want default", tc.addr, m.Entry)
			}
			continue
		}
		if m.Default() || m.Entry.Prefix.String() != tc.prefix || m.Entry.Source.String() != tc.source {
			t.Errorf("%s: matched %+v, want %s at %s", tc.addr, m.Entry, tc.prefix, tc.source)
		}
	}
	if c := p.Count(); c[PrivateOrClear] != 2 || c[Clear] != 1 || c[Block] != 1 {
		t.Errorf("count = %v", c)
	}
}

func TestLoadMissingFilesAreEmpty(t *testing.T) {
	p, _, err := load(t, map[string]string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 || p.Lookup(netip.MustParseAddr("192.0.2.1")).Group != Clear {
		t.Fatal("empty directory should give an empty policy")
	}
}

func TestLoadConflictNamesBothPlaces(t *testing.T) {
	_, _, err := load(t, map[string]string{
		"private": "# x\n192.0.2.0/24\n",
		"clear":   "\n\n192.0.2.0/24\n",
	}, nil)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("err = %v, want one conflict", err)
	}
	// Files are read in group order: clear first, so private is the repeat.
	want := `/p/private:2: "192.0.2.0/24": also in group clear at /p/clear:3`
	if !strings.HasPrefix(errs[0].Error(), want) {
		t.Errorf("error = %q, want prefix %q", errs[0], want)
	}
}

func TestLoadDuplicateInOneGroupWarns(t *testing.T) {
	p, warns, err := load(t, map[string]string{"private": "192.0.2.0/24\n192.0.2.0/24\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "/p/private:2: 192.0.2.0/24 already listed at /p/private:1") {
		t.Fatalf("warnings = %v", warns)
	}
	if p.Len() != 1 {
		t.Errorf("len = %d", p.Len())
	}
}

func TestLoadErrorsFromAllFiles(t *testing.T) {
	_, _, err := load(t, map[string]string{
		"private": "192.0.2.0/33\n",
		"block":   "ok.example\n10.0.0.1/8\n",
	}, fakeResolver{"ok.example": {"203.0.113.5"}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("err = %v, want 2 errors", err)
	}
	if !strings.HasPrefix(errs[0].Error(), "/p/private:1:") || !strings.HasPrefix(errs[1].Error(), "/p/block:2:") {
		t.Errorf("errors = %v", errs)
	}
}

func TestLoadHostNames(t *testing.T) {
	r := fakeResolver{
		"dual.example":  {"192.0.2.10", "2001:db8::10", "192.0.2.10"},
		"clash.example": {"198.51.100.1"},
	}
	p, warns, err := load(t, map[string]string{
		"private":          "dual.example\nmissing.example\n",
		"private-or-clear": "198.51.100.0/24\n",
		"clear":            "clash.example\n",
	}, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), `/p/private:2: host name "missing.example": does not resolve`) {
		t.Fatalf("warnings = %v", warns)
	}
	for _, a := range []string{"192.0.2.10", "2001:db8::10"} {
		m := p.Lookup(netip.MustParseAddr(a))
		if m.Group != Private || m.Entry.Host != "dual.example" || m.Entry.Source.String() != "/p/private:1" {
			t.Errorf("%s: %+v", a, m.Entry)
		}
	}
	if m := p.Lookup(netip.MustParseAddr("198.51.100.1")); m.Group != Clear || m.Entry.Host != "clash.example" {
		t.Errorf("clash.example should be clear by /32: %+v", m.Entry)
	}
}

func TestLoadWithoutResolverWarns(t *testing.T) {
	_, warns, err := load(t, map[string]string{"private": "host.example\n"}, nil)
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].Msg, "no resolver") {
		t.Fatalf("err %v warns %v", err, warns)
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(context.Background(), filepath.Join(dir, "nope"), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing dir: %v", err)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if _, _, err := Load(context.Background(), f, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as dir: %v", err)
	}
	// A group that is a directory cannot be read: named in the error.
	os.Mkdir(filepath.Join(dir, "p"), 0o755)
	os.Mkdir(filepath.Join(dir, "p", "private"), 0o755)
	_, _, err := Load(context.Background(), filepath.Join(dir, "p"), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "p", "private")) {
		t.Errorf("group as dir: %v", err)
	}
}

func TestCompare(t *testing.T) {
	old, _, err := load(t, map[string]string{
		"private":          "192.0.2.0/24\n198.51.100.0/24\n",
		"private-or-clear": "2001:db8::/32\n",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nw, _, err := load(t, map[string]string{
		"private":          "# moved down a line\n192.0.2.0/24\n",
		"block":            "198.51.100.0/24\n",
		"private-or-clear": "203.0.113.0/24\n",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(old, nw)
	if len(d.Added) != 1 || d.Added[0].Prefix.String() != "203.0.113.0/24" {
		t.Errorf("added = %v", d.Added)
	}
	if len(d.Removed) != 1 || d.Removed[0].Prefix.String() != "2001:db8::/32" {
		t.Errorf("removed = %v", d.Removed)
	}
	if len(d.Changed) != 1 || d.Changed[0].Old.Group != Private || d.Changed[0].New.Group != Block {
		t.Errorf("changed = %v", d.Changed)
	}
	if !Compare(old, old).Empty() {
		t.Error("a policy differs from itself")
	}
	if d := Compare(nil, old); len(d.Added) != 3 {
		t.Errorf("from nil: %v", d)
	}
}
