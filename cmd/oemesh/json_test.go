package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

// decodeStrict decodes out into v, failing on fields v's type lacks.
func decodeStrict(out string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestJSONIsControlTypes: every --json subcommand that shows the daemon's
// state prints exactly its internal/control type, and so do the offline
// forms of policy check and explain. (internal/e2e's TestControlAPITypes
// does the same on a mesh with tunnels, shunts, keys and conns.)
func TestJSONIsControlTypes(t *testing.T) {
	files := map[string]string{"private-or-clear": "192.0.2.0/24\n", "clear": "192.0.2.1\n"}
	d := startDaemon(t, files)
	for _, tc := range []struct {
		args []string
		v    any
	}{
		{[]string{"status"}, &control.Status{}},
		{[]string{"traffic"}, &[]control.TunnelStatus{}},
		{[]string{"shunts"}, &[]control.ShuntStatus{}},
		{[]string{"peers"}, &[]control.Peer{}},
		{[]string{"dns", "cache"}, &[]control.DNSCacheEntry{}},
		{[]string{"dns", "bindings"}, &control.BindingList{}},
		{[]string{"conn", "list"}, &[]control.ConnStatus{}},
		{[]string{"memory"}, &control.Memory{}},
		{[]string{"policy", "explain", "192.0.2.9"}, &control.Explanation{}},
		{[]string{"policy", "check"}, &control.PolicyCheck{}},
		{[]string{"policy", "reload"}, &control.PolicyCheck{}},
	} {
		r := d.oemesh(t, append([]string{"--json"}, tc.args...)...)
		if r.code != 0 {
			t.Errorf("oemesh --json %v: %+v", tc.args, r)
			continue
		}
		if err := decodeStrict(r.stdout, tc.v); err != nil {
			t.Errorf("oemesh --json %v is not a %T: %v\n%s", tc.args, tc.v, err, r.stdout)
		}
	}
	var st control.Status
	if r := d.oemesh(t, "--json", "status"); decodeStrict(r.stdout, &st) != nil || st.Policy.Counts[control.GroupPrivateOrClear] != 1 {
		t.Errorf("status: %+v", st)
	}

	dir := filepath.Join(t.TempDir(), "policies")
	writeFiles(t, dir, files)
	var ex control.Explanation
	if r := run(t, "oemesh", "policy", "explain", "--dir", dir, "--json", "192.0.2.9"); decodeStrict(r.stdout, &ex) != nil ||
		ex.Group != control.GroupPrivateOrClear || ex.Prefix == nil || *ex.Prefix != "192.0.2.0/24" {
		t.Errorf("policy explain --dir: %+v\n%s", ex, r.stdout)
	}
	var pc control.PolicyCheck
	if r := run(t, "oemesh", "policy", "check", "--dir", dir, "--json"); decodeStrict(r.stdout, &pc) != nil || !pc.OK || pc.Prefixes != 2 {
		t.Errorf("policy check --dir: %+v\n%s", pc, r.stdout)
	}
}
