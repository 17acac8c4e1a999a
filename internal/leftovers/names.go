package leftovers

import (
	"regexp"
	"strconv"
	"strings"
)

// labPrefixes are the prefixes of internal/lab's namespaces, each followed
// by the run's pid (and "-<node>"): ome (internal/e2e), omr
// (internal/reliability), omdep (e2e's deploy), omlt
// (internal/lab's tests), ivm/ivf/ipx (internal/interopvm), oels/oelat
// (bench/oelatency), oemem (bench/oemem), oelab (oemesh-lab), olt/oli/olp/
// olc (oemesh-lab's tests), olk (this package's tests), ikl (bench/ikeload, on its branch). usbench is bench/usthroughput's
// "usbench{a,b}-<pid>".
var labPrefixes = []string{"ome", "omr", "omdep", "omlt", "ivm", "ivf", "ipx", "oels", "oelat", "oemem", "oelab", "olt", "oli", "olp", "olc", "olk", "ikl"}

var (
	// labName is "<prefix><pid>-<rest>".
	labName = regexp.MustCompile(`^(` + strings.Join(labPrefixes, "|") + `)(\d+)-[a-z0-9-]+$`)
	// benchName is bench/usthroughput's "usbench{a,b}-<pid>".
	benchName = regexp.MustCompile(`^usbench[ab]-(\d+)$`)
	// netnstestName is internal/netnstest's "<prefix>-<pid>-<n>".
	netnstestName = regexp.MustCompile(`^[a-z][a-z0-9]*-(\d+)-\d+$`)
)

// Ours reports whether a namespace name is one the tests make, and the pid
// of the run that made it.
func Ours(name string) (pid int, ok bool) {
	var m []string
	if m = labName.FindStringSubmatch(name); m != nil {
		m = m[1:]
	} else if m = benchName.FindStringSubmatch(name); m == nil {
		m = netnstestName.FindStringSubmatch(name)
	}
	if m == nil {
		return 0, false
	}
	pid, err := strconv.Atoi(m[1])
	return pid, err == nil
}

// daemons are the programs tests start; one still running after the tests
// (inside a namespace, or built into a temporary directory) is a leftover.
// "charon" is strongSwan's, "pluto" Libreswan's, "starter" the ipsec
// wrapper's.
var daemons = map[string]bool{
	"oemeshd": true, "oemesh": true, "charon": true, "charon-systemd": true, "starter": true,
	"pluto": true, "knotd": true, "unbound": true, "nsd": true, "oemesh-lab": true,
}

// tunName is the default TUN device of the userspace data plane
// ("oemesh0") and the names tests give theirs.
var tunName = regexp.MustCompile(`^oemesh\d*$`)
