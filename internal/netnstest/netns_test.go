package netnstest

import (
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

func TestPairPings(t *testing.T) {
	p := NewPair(t, "nnt")
	if _, err := os.Stat("/run/netns/" + p.A.Name); err != nil {
		t.Fatalf("named namespace not visible: %v", err)
	}
	out := p.A.Run(t, "ping", "-c", "1", "-W", "2", p.B4.String())
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping A→B over veth: %s", out)
	}
	out = p.B.Run(t, "ping", "-c", "1", "-W", "2", p.A6.String())
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping6 B→A over veth: %s", out)
	}
}

func TestDoEntersAndLeaves(t *testing.T) {
	ns := New(t, "nnt")
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	var inside bool
	if err := ns.Do(func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = cur.Equal(ns.Handle)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !inside {
		t.Fatal("Do did not run fn inside the namespace")
	}
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(before) {
		t.Fatal("Do left the thread in another namespace")
	}
}
