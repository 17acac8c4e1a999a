package policygroups

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePortExcludes(t *testing.T) {
	tests := []struct {
		line string
		want string // the exclusion as it reads back, or the error after FILE:LINE
	}{
		{"in tcp any 22 1023", "in tcp any 22 1023"},
		{"in\t\ttcp\t\tany\t22\t1023  # ssh", "in tcp any 22 1023"},
		{"both tcp any 22 1023", "both tcp any 22 1023"},
		{"out udp 10.0.0.0/8@514 10.0.0.0/8@514 1023", "out udp 10.0.0.0/8@514 10.0.0.0/8@514 1023"},
		{"in tcp 10.0.0.0/8 443 1023", "in tcp 10.0.0.0/8 0.0.0.0/0@443 1023"},
		{"out 6 any4 22 10", "out tcp 0.0.0.0/0 0.0.0.0/0@22 10"},
		{"out ipv6-icmp any6 2001:db8::/32 5", "out ipv6-icmp ::/0 2001:db8::/32 5"},
		{"out TCP 192.0.2.1 22 5", "out tcp 192.0.2.1/32 0.0.0.0/0@22 5"},
		{"out tcp any any@22 5", "destination: want any, any4, any6, a port"},
		{"out 132 192.0.2.0/24@0 any 5", "out sctp 192.0.2.0/24 0.0.0.0/0 5"},

		{"in tcp any 22", `"in tcp any 22": want 5 fields (direction protocol source destination priority), found 4`},
		{"in tcp any 22 1023 extra", "found 6"},
		{"sideways tcp any 22 1", `"sideways": direction: want in, out or both`},
		{"in tcpp any 22 1", `"tcpp": protocol: want a name`},
		{"in 0 any 22 1", `"0": protocol: want a name`},
		{"in 256 any 22 1", `"256": protocol`},
		{"in tcp any 65536 1", `"65536": destination: port "65536": want a number from 0 to 65535`},
		{"in tcp any 10.0.0.0/8@1000-2000 1", `destination: port "1000-2000": want a number from 0 to 65535 (one port, not a range or a name)`},
		{"in tcp any 10.0.0.0/8@ssh 1", `(one port, not a range or a name)`},
		{"in tcp 10.0.0.1/8 22 1", `"10.0.0.1/8": source: host bits set after the prefix length; did you mean 10.0.0.0/8?`},
		{"in tcp 10.0.0.300 22 1", `"10.0.0.300": source: want any, any4, any6, a port, or a CIDR`},
		{"in tcp ::ffff:10.0.0.0/104 22 1", "IPv4-mapped"},
		{"in tcp fe80::1%eth0 22 1", "zone"},
		{"in tcp 10.0.0.0/8 2001:db8::/32 1", "different address families"},
		{"in tcp any4 any6 1", "different address families"},
		{"in tcp any6 10.0.0.0/8@22 1", "different address families"},
		{"in tcp any any 1", "would exclude all traffic"},
		{"in tcp any4 any6 1", "different address families"},
		{"in tcp any 22 -1", `"-1": priority: want a number`},
		{"in tcp any 22 high", `"high": priority`},
	}
	for _, tt := range tests {
		xs, errs := ParsePortExcludes("/p/portexcludes.conf", strings.NewReader("# header\n\n"+tt.line+"\n"))
		var got string
		switch {
		case len(errs) == 1 && len(xs) == 0:
			got = errs[0].Error()
			if !strings.HasPrefix(got, "/p/portexcludes.conf:3: ") {
				t.Errorf("%q: error %q does not start with FILE:LINE", tt.line, got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("%q: error %q, want it to hold %q", tt.line, got, tt.want)
			}
		case len(errs) == 0 && len(xs) == 1:
			if got = xs[0].String(); got != tt.want {
				t.Errorf("%q: read back as %q, want %q", tt.line, got, tt.want)
			}
			if xs[0].Pos.Line != 3 {
				t.Errorf("%q: line %d, want 3", tt.line, xs[0].Pos.Line)
			}
		default:
			t.Errorf("%q: %d exclusions, errors %v", tt.line, len(xs), errs)
		}
	}
}

func TestParsePortExcludesEveryError(t *testing.T) {
	in := "in tcp any 22 1\nbad\nout udp any 53 1\nin tcp any 70000 1\n" + strings.Repeat("x", maxLineLen+1) + "\n"
	xs, errs := ParsePortExcludes("f", strings.NewReader(in))
	if len(xs) != 2 {
		t.Errorf("read %d exclusions, want 2", len(xs))
	}
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Pos.Line)
	}
	if len(lines) != 3 || lines[0] != 2 || lines[1] != 4 || lines[2] != 5 {
		t.Errorf("errors on lines %v, want [2 4 5]: %v", lines, errs)
	}
}

func exclusion(t *testing.T, line string) Exclusion {
	t.Helper()
	xs, errs := ParsePortExcludes("/p/portexcludes.conf", strings.NewReader(line))
	if len(errs) > 0 || len(xs) != 1 {
		t.Fatalf("%q: %v", line, errs)
	}
	return xs[0]
}

func TestExclusionMatches(t *testing.T) {
	a := netip.MustParseAddr
	tcp, udp, icmp := uint8(6), uint8(17), uint8(1)
	tests := []struct {
		line string
		f    Flow
		want bool
	}{
		// Out: to the peers' port 22.
		{"out tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 22}, true},
		{"out tcp any 22 1", Flow{Dst: a("2001:db8::1"), Proto: tcp, DstPort: 22}, true},
		{"out tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 23}, false},
		{"out tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: udp, DstPort: 22}, false},
		{"out tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: icmp}, false},
		{"out tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp}, false}, // port not known
		// In: our port 22; an outgoing session to a peer's 22 is not it,
		// the replies of a session to ours are.
		{"in tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 22, SrcPort: 40000}, false},
		{"in tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 40000, SrcPort: 22}, true},
		// Both: either.
		{"both tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 22, SrcPort: 40000}, true},
		{"both tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 40000, SrcPort: 22}, true},
		{"both tcp any 22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 40000, SrcPort: 40001}, false},
		// Prefixes, and families.
		{"out tcp any 10.0.0.0/8@22 1", Flow{Dst: a("10.1.2.3"), Proto: tcp, DstPort: 22}, true},
		{"out tcp any 10.0.0.0/8@22 1", Flow{Dst: a("::ffff:10.1.2.3"), Proto: tcp, DstPort: 22}, true},
		{"out tcp any 10.0.0.0/8@22 1", Flow{Dst: a("11.1.2.3"), Proto: tcp, DstPort: 22}, false},
		{"out tcp any4 22 1", Flow{Dst: a("2001:db8::1"), Proto: tcp, DstPort: 22}, false},
		{"out udp 192.0.2.0/24@514 10.0.0.0/8@514 1", Flow{Src: a("192.0.2.7"), Dst: a("10.0.0.1"), Proto: udp, SrcPort: 514, DstPort: 514}, true},
		{"out udp 192.0.2.0/24@514 10.0.0.0/8@514 1", Flow{Src: a("198.51.100.7"), Dst: a("10.0.0.1"), Proto: udp, SrcPort: 514, DstPort: 514}, false},
		// An unknown source address is any of ours.
		{"out udp 192.0.2.0/24@514 10.0.0.0/8@514 1", Flow{Dst: a("10.0.0.1"), Proto: udp, SrcPort: 514, DstPort: 514}, true},
		{"out tcp any 22 1", Flow{Proto: tcp, DstPort: 22}, false}, // no destination
	}
	for _, tt := range tests {
		if got := exclusion(t, tt.line).Matches(tt.f); got != tt.want {
			t.Errorf("%q matches %+v = %v, want %v", tt.line, tt.f, got, tt.want)
		}
	}
}

// TestExclusionBeatsPrefix: a port exclusion is more specific than any
// prefix, however long, while other traffic to the address keeps its
// group.
func TestExclusionBeatsPrefix(t *testing.T) {
	p, warns, err := load(t, map[string]string{
		"private":           "10.0.0.0/8\n10.1.2.3\n",
		"block":             "192.0.2.0/24\n",
		"portexcludes.conf": "# ssh stays clear\nout tcp any 10.0.0.0/8@22 100\nboth udp any 53 50\nout tcp any 22 10\n",
	}, nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warnings %v", err, warns)
	}
	dst := netip.MustParseAddr("10.1.2.3")
	ssh := p.ExplainFlow(Flow{Dst: dst, Proto: 6, DstPort: 22})
	if ssh.Group != Clear || ssh.Source != "/p/portexcludes.conf:4" || ssh.PortExclusion != "out tcp any 22 10" || ssh.Prefix != nil {
		t.Errorf("tcp/22: %+v, want clear by line 4 (the lowest priority number of two matches)", ssh)
	}
	other := p.ExplainFlow(Flow{Dst: dst, Proto: 6, DstPort: 80})
	if other.Group != Private || other.Source != "/p/private:2" || other.PortExclusion != "" {
		t.Errorf("tcp/80: %+v, want private by /p/private:2", other)
	}
	ping := p.ExplainFlow(Flow{Dst: dst, Proto: 1})
	if ping.Group != Private {
		t.Errorf("icmp: %+v, want private", ping)
	}
	dns := p.ExplainFlow(Flow{Dst: netip.MustParseAddr("192.0.2.9"), Proto: 17, DstPort: 53})
	if dns.Group != Clear || dns.Source != "/p/portexcludes.conf:3" || dns.Prefix != nil {
		t.Errorf("udp/53 to a blocked host: %+v, want clear by line 3", dns)
	}
	if got := len(p.Exclusions()); got != 3 {
		t.Errorf("%d exclusions, want 3", got)
	}
	// Exempt keeps the exclusions.
	q, done := p.Exempt([]Exemption{{Addr: dst, Reason: "DNS server"}})
	if len(done) != 1 || len(q.Exclusions()) != 3 {
		t.Errorf("after Exempt: %d exemptions, %d exclusions, want 1 and 3", len(done), len(q.Exclusions()))
	}
}

func TestLoadPortExcludesErrorsAndUnknownFiles(t *testing.T) {
	_, _, err := load(t, map[string]string{
		"private":           "10.0.0.0/8\nnot/a/prefix\n",
		"portexcludes.conf": "in tcp any 22 1\nin tcp any 22\n",
	}, nil)
	if err == nil {
		t.Fatal("loaded a directory with bad lines")
	}
	want := "/p/private:2: \"not/a/prefix\": not a valid CIDR: " // the group files first
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], want) ||
		!strings.HasPrefix(lines[1], "/p/portexcludes.conf:2: ") {
		t.Errorf("errors:\n%v", err)
	}

	p, warns, err := load(t, map[string]string{
		"private":  "10.0.0.0/8\n",
		"privat":   "10.1.0.0/16\n",
		"README":   "notes\n",
		"old/keep": "x\n",
	}, nil)
	if err != nil || p.Len() != 1 {
		t.Fatalf("err %v, %d prefixes", err, p.Len())
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	wantW := []string{
		"/p/README: unknown file: not a policy group (clear, clear-or-private, private-or-clear, private, block) or portexcludes.conf; ignored",
		"/p/old: unknown directory: not a policy group (clear, clear-or-private, private-or-clear, private, block) or portexcludes.conf; ignored",
		"/p/privat: unknown file: not a policy group (clear, clear-or-private, private-or-clear, private, block) or portexcludes.conf; ignored",
	}
	if strings.Join(got, "\n") != strings.Join(wantW, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantW, "\n"))
	}
}

// FuzzParsePortExcludes: any input gives exclusions or FILE:LINE errors,
// never a panic, and every exclusion reads back to a line that parses to
// the same exclusion.
func FuzzParsePortExcludes(f *testing.F) {
	for _, s := range []string{
		"in tcp any 22 1023\n",
		"both udp 10.0.0.0/8@514 10.0.0.0/8@514 1023\n# c\n",
		"out ipv6-icmp any6 2001:db8::/32@0 5",
		"in tcp any4 any6 1\nin 300 any 22 x\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		xs, errs := ParsePortExcludes("f", strings.NewReader(in))
		for _, e := range errs {
			if e.Pos.File != "f" || e.Pos.Line < 1 {
				t.Fatalf("error without a place: %v", e)
			}
		}
		for _, x := range xs {
			if x.Proto == 0 || x.Direction < In || x.Direction > Both {
				t.Fatalf("bad exclusion %+v from %q", x, in)
			}
			back, berrs := ParsePortExcludes("f", strings.NewReader(x.String()))
			if len(berrs) > 0 || len(back) != 1 {
				t.Fatalf("%q (from %q) does not parse back: %v", x.String(), in, berrs)
			}
			back[0].Pos = x.Pos
			if back[0] != x {
				t.Fatalf("%q parses back as %+v, want %+v", x.String(), back[0], x)
			}
		}
	})
}

// TestCompareExclusions: a reload that changes only portexcludes.conf is a
// change (the data plane's exclusions must be replaced); one that only
// moves its lines down is not.
func TestCompareExclusions(t *testing.T) {
	mk := func(excl string) *Policy {
		p, _, err := load(t, map[string]string{"private": "10.0.0.0/8\n", "portexcludes.conf": excl}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := mk("out tcp any 22 1\n")
	if d := Compare(a, mk("# moved\n\nout tcp any 22 1\n")); !d.Empty() {
		t.Errorf("moving a line: %+v, want empty", d)
	}
	if d := Compare(a, mk("out tcp any 23 1\n")); d.Empty() || !d.Exclusions || len(d.Added)+len(d.Removed)+len(d.Changed) != 0 {
		t.Errorf("another port: %+v, want only Exclusions", d)
	}
	if d := Compare(a, mk("")); !d.Exclusions {
		t.Errorf("removing the line: %+v, want Exclusions", d)
	}
	if d := Compare(nil, a); !d.Exclusions || len(d.Added) != 1 {
		t.Errorf("from nothing: %+v", d)
	}
}
