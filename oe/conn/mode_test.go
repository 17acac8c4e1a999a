package conn_test

import (
	"strings"
	"testing"

	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestAddRefusesUnsetMode: a conn must say tunnel or transport; the zero
// Mode is a forgotten field, not a default.
func TestAddRefusesUnsetMode(t *testing.T) {
	o, _ := newTestStack(t, oe.Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	err := o.Conns().Add(t.Context(), conn.Conn{Name: "office", Local: gwA, Remote: gwB})
	if err == nil || !strings.Contains(err.Error(), "conn office: mode") {
		t.Fatalf("Add without a mode: %v, want an error naming the conn and its mode", err)
	}
	if n := len(o.Conns().List()); n != 0 {
		t.Fatalf("%d conns after a refused Add", n)
	}
}
