package lab

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// NetState is what a namespace's kernel holds that a daemon installs: its
// links (a TUN device), ip rules, routes of every table, and XFRM states
// and policies, each as lines normalised so that two runs of the same
// configuration compare equal: interface indexes, SPIs, keys, sequence
// numbers, lifetimes and policy indexes are left out. A stale leftover of
// a killed daemon (a second TUN device, a rule twice, the old run's SAs)
// shows as a line more.
type NetState struct {
	Links, Rules, Routes, XFRMStates, XFRMPolicies []string
}

// ReadNetState reads n's NetState with ip(8).
func (n *Node) ReadNetState(ctx context.Context) (NetState, error) {
	var s NetState
	for _, q := range []struct {
		into *[]string
		norm func(string) []string
		args []string
	}{
		{&s.Links, normLinks, []string{"-o", "link", "show"}},
		{&s.Rules, normLines, []string{"-4", "rule", "show"}},
		{&s.Rules, normLines, []string{"-6", "rule", "show"}},
		{&s.Routes, normRoutes, []string{"-4", "route", "show", "table", "all"}},
		{&s.Routes, normRoutes, []string{"-6", "route", "show", "table", "all"}},
		{&s.XFRMStates, normXFRMStates, []string{"xfrm", "state", "list"}},
		{&s.XFRMPolicies, normXFRMPolicies, []string{"xfrm", "policy", "list"}},
	} {
		out, err := n.Command(ctx, "ip", q.args...).CombinedOutput()
		if err != nil {
			return s, fmt.Errorf("lab: ip %s in %s: %w: %s", strings.Join(q.args, " "), n.NSName, err, out)
		}
		*q.into = append(*q.into, q.norm(string(out))...)
	}
	for _, l := range [][]string{s.Links, s.Rules, s.Routes, s.XFRMStates, s.XFRMPolicies} {
		slices.Sort(l)
	}
	return s, nil
}

// Diff lists what other holds that s does not ("+ ") and what s holds
// that other does not ("- "), counting repeated lines: empty when the two
// are the same.
func (s NetState) Diff(other NetState) []string {
	var out []string
	for _, part := range []struct {
		what string
		a, b []string
	}{
		{"link", s.Links, other.Links}, {"rule", s.Rules, other.Rules}, {"route", s.Routes, other.Routes},
		{"xfrm state", s.XFRMStates, other.XFRMStates}, {"xfrm policy", s.XFRMPolicies, other.XFRMPolicies},
	} {
		count := map[string]int{}
		for _, l := range part.a {
			count[l]--
		}
		for _, l := range part.b {
			count[l]++
		}
		for _, l := range slices.Sorted(maps.Keys(count)) {
			for i := 0; i < count[l]; i++ {
				out = append(out, fmt.Sprintf("+ %s: %s", part.what, l))
			}
			for i := 0; i > count[l]; i-- {
				out = append(out, fmt.Sprintf("- %s: %s", part.what, l))
			}
		}
	}
	return out
}

func normLines(out string) []string {
	var l []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			l = append(l, line)
		}
	}
	return l
}

// linkRE takes a link's name (without @peer) and its flags from
// `ip -o link show`.
var linkRE = regexp.MustCompile(`^\d+: ([^:@ ]+)(?:@\S+)?: (<[^>]*>)`)

func normLinks(out string) []string {
	var l []string
	for _, line := range normLines(out) {
		if m := linkRE.FindStringSubmatch(line); m != nil {
			l = append(l, m[1]+" "+m[2])
		}
	}
	return l
}

// routeVolatile are the parts of a route that change by themselves.
var routeVolatile = regexp.MustCompile(` (expires \S+|linkdown)`)

// normRoutes leaves out the local routes of IPv6 link-local addresses:
// the kernel gives each new TUN device a random one, and a fresh link its
// own only once duplicate address detection is done.
func normRoutes(out string) []string {
	var l []string
	for _, line := range normLines(out) {
		if strings.HasPrefix(line, "local fe80:") {
			continue
		}
		l = append(l, routeVolatile.ReplaceAllString(line, ""))
	}
	return l
}

// normXFRMStates keeps each state's "src A dst B" and "proto P spi S reqid
// R mode M" lines, joined, with the SPI and reqid left out. The kernel's
// own larval states of an ACQUIRE (SPI 0) are left out: the kernel makes
// them when a trap policy is hit and removes them itself
// (net.core.xfrm_acq_expires, 30 s).
var xfrmSPI = regexp.MustCompile(`(spi|reqid) \S+`)

func normXFRMStates(out string) []string {
	var l []string
	cur := ""
	flush := func() {
		if cur != "" && !strings.Contains(cur, " spi 0x00000000 ") {
			l = append(l, strings.TrimSpace(xfrmSPI.ReplaceAllString(cur, "$1 *")))
		}
	}
	for _, line := range normLines(out) {
		switch {
		case strings.HasPrefix(line, "src "):
			flush()
			cur = line
		case strings.HasPrefix(line, "proto "):
			cur += " " + line + " "
		}
	}
	flush()
	return l
}

// normXFRMPolicies keeps each policy's selector, its "dir D priority P"
// line without the index, and its templates' "tmpl src dst" and "proto
// mode" lines without reqids and SPIs.
var xfrmIndex = regexp.MustCompile(` (index|ptype) \S+`)

func normXFRMPolicies(out string) []string {
	var l []string
	cur := ""
	for _, line := range normLines(out) {
		switch {
		case strings.HasPrefix(line, "src "):
			if cur != "" {
				l = append(l, cur)
			}
			cur = line
		case strings.HasPrefix(line, "dir "), strings.HasPrefix(line, "tmpl "), strings.HasPrefix(line, "proto "), strings.HasPrefix(line, "mark "), strings.HasPrefix(line, "if_id "):
			cur += " | " + xfrmSPI.ReplaceAllString(xfrmIndex.ReplaceAllString(line, ""), "$1 *")
		}
	}
	if cur != "" {
		l = append(l, cur)
	}
	return l
}
