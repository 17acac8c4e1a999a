package lab

import (
	"slices"
	"testing"
)

// TestNetStateDiff: two runs of one configuration compare equal once
// SPIs, reqids, indexes and link-local routes are left out, and a leftover
// of the first run (its SAs, a second rule) shows as a line more.
func TestNetStateDiff(t *testing.T) {
	states := func(spiA, spiB string) string {
		return "src 198.18.0.1 dst 198.18.0.2\n\tproto esp spi " + spiA + " reqid 7 mode tunnel\n\treplay-window 0 flag af-unspec\n\taead rfc4106(gcm(aes)) 0xabc 128\n" +
			"src 198.18.0.2 dst 198.18.0.1\n\tproto esp spi " + spiB + " reqid 7 mode tunnel\n" +
			"src 198.18.0.1 dst 198.18.0.2\n\tproto esp spi 0x00000000 reqid 0 mode transport\n" // an ACQUIRE's larval state
	}
	policy := func(index string) string {
		return "src 198.18.0.1/32 dst 198.18.0.2/32 \n\tdir out priority 1000 ptype main index " + index + "\n\ttmpl src 198.18.0.1 dst 198.18.0.2\n\t\tproto esp reqid 9 mode tunnel\n"
	}
	run := func(spiA, spiB, index, linkLocal string) NetState {
		s := NetState{
			Links:        normLinks("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue\n5: eth0@if6: <BROADCAST,UP> mtu 1500\n9: oemesh0: <POINTOPOINT,UP> mtu 1420\n"),
			Rules:        normLines("4322:\tnot from all fwmark 0x10e2/0x10e2 lookup 4322\n"),
			Routes:       normRoutes("local " + linkLocal + " dev oemesh0 table local proto kernel metric 0 pref medium\n198.18.0.2 dev oemesh0 table 4322\n"),
			XFRMStates:   normXFRMStates(states(spiA, spiB)),
			XFRMPolicies: normXFRMPolicies(policy(index)),
		}
		return s
	}
	first, second := run("0xc0ffee01", "0xc0ffee02", "10", "fe80::1"), run("0xdeadbe01", "0xdeadbe02", "58", "fe80::2")
	if d := first.Diff(second); len(d) != 0 {
		t.Errorf("two runs of one configuration differ: %q", d)
	}
	if want := []string{"eth0 <BROADCAST,UP>", "lo <LOOPBACK,UP,LOWER_UP>", "oemesh0 <POINTOPOINT,UP>"}; !slices.Equal(slices.Sorted(slices.Values(first.Links)), want) {
		t.Errorf("links %q, want %q", first.Links, want)
	}
	stale := second
	stale.XFRMStates = normXFRMStates(states("0xc0ffee01", "0xc0ffee02") + states("0xdeadbe01", "0xdeadbe02"))
	stale.Rules = append(stale.Rules, stale.Rules[0])
	d := first.Diff(stale)
	want := []string{
		"+ rule: 4322: not from all fwmark 0x10e2/0x10e2 lookup 4322",
		"+ xfrm state: src 198.18.0.1 dst 198.18.0.2 proto esp spi * reqid * mode tunnel",
		"+ xfrm state: src 198.18.0.2 dst 198.18.0.1 proto esp spi * reqid * mode tunnel",
	}
	if !slices.Equal(d, want) {
		t.Errorf("the killed run's leftovers show as %q, want %q", d, want)
	}
	if d := stale.Diff(first); len(d) != 3 || d[0][0] != '-' {
		t.Errorf("the other way round: %q, want three lines of -", d)
	}
}
