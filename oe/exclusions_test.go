package oe

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestSetPolicyInstallsExclusions: the port exclusions reach the data
// plane one selector per family and way, are replaced on a reload that
// changes them, left alone by one that does not, and removed with the
// file.
func TestSetPolicyInstallsExclusions(t *testing.T) {
	ctx := context.Background()
	o, dp := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	pfx := netip.MustParsePrefix
	any4, any6 := pfx("0.0.0.0/0"), pfx("::/0")
	files := map[string]string{
		"private":           "10.0.0.0/8\n",
		"portexcludes.conf": "out tcp any 10.0.0.0/8@22 1\nboth udp any 53 1\nin tcp 2001:db8::/32 80 1\n",
	}
	if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, files)); err != nil {
		t.Fatal(err)
	}
	want := []kernel.Exclusion{
		{Proto: 6, Local: any4, Remote: pfx("10.0.0.0/8"), RemotePort: 22},
		{Proto: 17, Local: any4, Remote: any4, RemotePort: 53},
		{Proto: 17, Local: any6, Remote: any6, RemotePort: 53},
		{Proto: 17, Local: any4, Remote: any4, LocalPort: 53},
		{Proto: 17, Local: any6, Remote: any6, LocalPort: 53},
		{Proto: 6, Local: any6, Remote: pfx("2001:db8::/32"), LocalPort: 80},
	}
	if got := dp.Exclusions(); !slices.Equal(got, want) {
		t.Errorf("exclusions:\n got %+v\nwant %+v", got, want)
	}
	count := func() int {
		n := 0
		for _, c := range dp.Calls() {
			if c.Method == "SetExclusions" {
				n++
			}
		}
		return n
	}
	// The same exclusions again: no call.
	files["private"] = "10.0.0.0/8\n192.0.2.0/24\n"
	if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, files)); err != nil || count() != 1 {
		t.Errorf("unchanged exclusions: err %v, %d calls, want 1", err, count())
	}
	delete(files, "portexcludes.conf")
	if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, files)); err != nil || count() != 2 || len(dp.Exclusions()) != 0 {
		t.Errorf("without the file: err %v, %d calls, exclusions %v", err, count(), dp.Exclusions())
	}
	// A policy without exclusions never calls the data plane.
	o2, dp2 := newTestOE(t, Config{}, oetest.NewDNS(), nil, oetest.NewKey(t))
	if _, err := o2.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "10.0.0.0/8\n"})); err != nil {
		t.Fatal(err)
	}
	for _, c := range dp2.Calls() {
		if c.Method == "SetExclusions" {
			t.Errorf("SetExclusions called for a policy without exclusions")
		}
	}
}
