package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// decodeStrict decodes data into v and fails on any field that v's type
// does not have: the reply is exactly the control type.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// traffic is host's `oemesh traffic --json`, and the output itself.
func traffic(t *testing.T, m *lab.Mesh, ctx context.Context, host string) ([]control.TunnelStatus, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "traffic", "--json")
	if err != nil {
		t.Fatalf("oemesh traffic on %s: %v\n%s", host, err, out)
	}
	var ts []control.TunnelStatus
	if err := decodeStrict([]byte(out), &ts); err != nil {
		t.Fatalf("oemesh traffic --json on %s: %v\n%s", host, err, out)
	}
	return ts, out
}

// hasTunnel reports whether any tunnel satisfies ok.
func hasTunnel(ts []control.TunnelStatus, ok func(control.TunnelStatus) bool) bool {
	for _, tn := range ts {
		if ok(tn) {
			return true
		}
	}
	return false
}

// shunts is host's `oemesh shunts --json`, and the output itself.
func shunts(t *testing.T, m *lab.Mesh, ctx context.Context, host string) ([]control.ShuntStatus, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "shunts", "--json")
	if err != nil {
		t.Fatalf("oemesh shunts on %s: %v\n%s", host, err, out)
	}
	var ss []control.ShuntStatus
	if err := decodeStrict([]byte(out), &ss); err != nil {
		t.Fatalf("oemesh shunts --json on %s: %v\n%s", host, err, out)
	}
	return ss, out
}

// hasShunt reports whether any shunt satisfies ok.
func hasShunt(ss []control.ShuntStatus, ok func(control.ShuntStatus) bool) bool {
	for _, s := range ss {
		if ok(s) {
			return true
		}
	}
	return false
}

// explain is host's `oemesh policy explain --json addr`, and the output.
func explain(t *testing.T, m *lab.Mesh, ctx context.Context, host, addr string) (control.Explanation, string) {
	t.Helper()
	out, err := m.CLI(ctx, host, "policy", "explain", "--json", addr)
	if err != nil {
		t.Fatalf("oemesh policy explain on %s: %v\n%s", host, err, out)
	}
	var ex control.Explanation
	if err := decodeStrict([]byte(out), &ex); err != nil {
		t.Fatalf("oemesh policy explain --json on %s: %v\n%s", host, err, out)
	}
	return ex, out
}

// prefixIs reports whether an explanation's prefix is p.
func prefixIs(ex control.Explanation, p string) bool { return ex.Prefix != nil && *ex.Prefix == p }
