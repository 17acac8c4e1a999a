package peers

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// LibreswanState is one state of whack --showstates, e.g.
//
//	#1: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2:500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 27972s; ...
type LibreswanState struct {
	Serial   int    // #N
	Conn     string // connection name, e.g. private-or-clear#192.0.2.0/24
	Instance int    // [N] of an instantiated conn, 0 if none
	Peer     string // peer address
	Port     int    // peer port
	State    string // e.g. STATE_V2_ESTABLISHED_IKE_SA
	Story    string // the text in parentheses, e.g. "established IKE SA"
	Line     string
}

// IKEEstablished reports an established IKE SA (the state, not a CHILD).
func (s LibreswanState) IKEEstablished() bool { return s.State == "STATE_V2_ESTABLISHED_IKE_SA" }

// ChildEstablished reports an established CHILD SA.
func (s LibreswanState) ChildEstablished() bool { return s.State == "STATE_V2_ESTABLISHED_CHILD_SA" }

// LibreswanTraffic is one line of whack --trafficstatus (an established CHILD SA), e.g.
//
//	#2: "private-or-clear#192.0.2.0/24"[1] ...192.0.2.2, type=ESP, add_time=0, inBytes=672, outBytes=672, maxBytes=2^63B, id='ID_NULL'
type LibreswanTraffic struct {
	Serial   int
	Conn     string
	Instance int
	Peer     string
	Type     string // ESP, AH
	InBytes  uint64
	OutBytes uint64
	ID       string // peer ID, e.g. ID_NULL
	Fields   map[string]string
	Line     string
}

var (
	// whack prefixes most lines with a 3-digit RC; 4.10 prints "000 " on status lines.
	whackRC      = regexp.MustCompile(`^\d{3} `)
	stateHeadRe  = regexp.MustCompile(`^#(\d+): "([^"]+)"(?:\[(\d+)\])?\s*(.*)$`)
	stateTokenRe = regexp.MustCompile(`^(\S+) (STATE_[A-Z0-9_]+) \(([^)]*)\)`)
)

// parseShowStates decodes whack --showstates. Lines that are not states (headers, blank)
// are skipped; a state line that does not parse is an error naming the line.
func parseShowStates(out string) ([]LibreswanState, error) {
	var sts []LibreswanState
	for i, line := range strings.Split(out, "\n") {
		l := whackRC.ReplaceAllString(strings.TrimSpace(line), "")
		if !strings.HasPrefix(l, "#") {
			continue
		}
		m := stateHeadRe.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("whack --showstates line %d: %q: no #N: \"conn\"", i+1, line)
		}
		st := LibreswanState{Conn: m[2], Line: l}
		st.Serial, _ = strconv.Atoi(m[1])
		if m[3] != "" {
			st.Instance, _ = strconv.Atoi(m[3])
		}
		t := stateTokenRe.FindStringSubmatch(m[4])
		if t == nil {
			return nil, fmt.Errorf("whack --showstates line %d: %q: no endpoint and STATE_", i+1, line)
		}
		addr, port, err := splitEndpoint(t[1])
		if err != nil {
			return nil, fmt.Errorf("whack --showstates line %d: %w", i+1, err)
		}
		st.Peer, st.Port, st.State, st.Story = addr, port, t[2], t[3]
		sts = append(sts, st)
	}
	return sts, nil
}

// splitEndpoint parses "...192.0.2.2:500", "192.0.2.2:500", "...2001:db8::2:500" or, for a
// conn with a fixed right=, just ":500" (the address is then "").
func splitEndpoint(s string) (string, int, error) {
	s = strings.TrimPrefix(s, "...")
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("endpoint %q: no :port", s)
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("endpoint %q: bad port", s)
	}
	return s[:i], port, nil
}

// parseTrafficStatus decodes whack --trafficstatus.
func parseTrafficStatus(out string) ([]LibreswanTraffic, error) {
	var ts []LibreswanTraffic
	for i, line := range strings.Split(out, "\n") {
		l := whackRC.ReplaceAllString(strings.TrimSpace(line), "")
		if !strings.HasPrefix(l, "#") {
			continue
		}
		m := stateHeadRe.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("whack --trafficstatus line %d: %q: no #N: \"conn\"", i+1, line)
		}
		tr := LibreswanTraffic{Conn: m[2], Line: l, Fields: map[string]string{}}
		tr.Serial, _ = strconv.Atoi(m[1])
		if m[3] != "" {
			tr.Instance, _ = strconv.Atoi(m[3])
		}
		parts := strings.Split(strings.TrimPrefix(m[4], ","), ", ")
		// The first part is the peer ("...192.0.2.2"), after our client
		// when it is not our host ("100.64.0.1/32=== ...192.0.2.2", a lease).
		if len(parts) > 0 && (!strings.Contains(parts[0], "=") || strings.Contains(parts[0], "...")) {
			p := strings.TrimSpace(parts[0])
			if i := strings.Index(p, "..."); i >= 0 {
				p = p[i:]
			}
			// A server that leased the peer an address writes it after the
			// peer ("...192.0.2.2===100.64.0.1/32").
			tr.Peer, _, _ = strings.Cut(strings.TrimPrefix(p, "..."), "===")
			parts = parts[1:]
		}
		for _, p := range parts {
			p = strings.TrimSpace(p)
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				return nil, fmt.Errorf("whack --trafficstatus line %d: field %q is not key=value", i+1, p)
			}
			tr.Fields[k] = strings.Trim(v, "'")
		}
		tr.Type, tr.ID = tr.Fields["type"], tr.Fields["id"]
		for _, f := range []struct {
			k   string
			dst *uint64
		}{{"inBytes", &tr.InBytes}, {"outBytes", &tr.OutBytes}} {
			if v, ok := tr.Fields[f.k]; ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("whack --trafficstatus line %d: %s=%q: %w", i+1, f.k, v, err)
				}
				*f.dst = n
			}
		}
		ts = append(ts, tr)
	}
	return ts, nil
}

func describeStates(sts []LibreswanState) string {
	if len(sts) == 0 {
		return "no state"
	}
	var parts []string
	for _, s := range sts {
		parts = append(parts, fmt.Sprintf("#%d %s ...%s %s", s.Serial, s.Conn, s.Peer, s.State))
	}
	return strings.Join(parts, "; ")
}

//go:generate go tool stringer -type=ChildOutcome -linecomment

// ChildOutcome is what became of a CHILD SA negotiation, read from pluto's log.
type ChildOutcome int

const (
	// ChildPending: nothing about a CHILD SA with that peer was logged yet.
	ChildPending ChildOutcome = iota // pending
	// ChildEstablished: pluto installed the CHILD SA (a kernel with ESP, e.g. the VM bed).
	ChildEstablished // established
	// ChildKernelNoESP: pluto accepted the CHILD SA (proposal and TS) and asked the kernel to
	// add it, and the kernel answered ENOSYS ("netlink response for Add SA ...: Function not
	// implemented (errno 38)"). On this kernel that is the expected end of a successful
	// negotiation. As responder, pluto then answers IKE_AUTH with TS_UNACCEPTABLE instead of
	// SA/TS and keeps the IKE SA; a peer must treat that TS_UNACCEPTABLE as "CHILD SA
	// negotiated, not installable here", never as a TS mismatch. As initiator (the peer
	// accepted the CHILD SA), pluto logs "CHILD SA encountered fatal error", deletes its IKE
	// SA without notifying the peer and revives the conn at once: the peer sees a new
	// IKE_SA_INIT right away and more later (3 in 10 s here) until the conn is taken down
	// (Libreswan.Down) or pluto stops.
	ChildKernelNoESP // negotiated, kernel has no ESP
	// ChildRejectedByPeer: pluto, as initiator, got a Child SA refusal (Notify names it)
	// with no kernel failure of its own. If the peer is another pluto on this kernel, its
	// ChildResult says ChildKernelNoESP.
	ChildRejectedByPeer // rejected by peer
	// ChildFailed: pluto logged another CHILD SA failure (Lines say which).
	ChildFailed // failed
)

// ChildResult is a ChildOutcome with its evidence.
type ChildResult struct {
	Outcome ChildOutcome
	Notify  string // e.g. TS_UNACCEPTABLE for ChildRejectedByPeer
	// ChildKernelNoESP: the SA pluto tried to add first, which is its outbound one: SPI (8
	// hex digits, as strongSwan prints them; chosen by the peer: the peer's inbound SPI)
	// toward SADst.
	SPI   string
	SADst string
	Lines []string // the log lines that decided it
}

var (
	childEstablishedRe = regexp.MustCompile(`established Child SA`)
	kernelNoESPRe      = regexp.MustCompile(`netlink response for Add SA esp\.([0-9a-f]+)@(\S+): Function not implemented \(errno 38\)`)
	childRejectedRe    = regexp.MustCompile(`response rejected Child SA with ([A-Z_]+)`)
	anyLine            = regexp.MustCompile(`.`)
	childFailedRe      = regexp.MustCompile(`(?i)(setup_half_ipsec_sa\(\) hit fail|failed to (install|add|set ?up) .*(SA|IPsec))`)
)

// ChildResult classifies the CHILD SA negotiations with peer (an address) that pluto logged
// after log offset from (see LogWatcher.Mark).
func (l *Libreswan) ChildResult(from int64, peer string) ChildResult {
	conns := map[string]bool{}
	for _, c := range l.cfg.Conns {
		if c.Right == peer {
			conns[c.Name] = true
		}
	}
	lines := l.Log.LinesFrom(from, anyLine)
	var mine []string
	for _, ln := range lines {
		if mentionsPeer(ln, peer) {
			mine = append(mine, ln)
			continue
		}
		for c := range conns {
			if strings.Contains(ln, `"`+c+`"`) {
				mine = append(mine, ln)
				break
			}
		}
	}
	return classifyChild(mine)
}

// mentionsPeer reports whether a pluto log line names peer as the
// instance's remote end: "...192.0.2.2 #3:", or "...192.0.2.2===100.64.0.1/32
// #3:" where pluto, as a server, leased the peer that address.
func mentionsPeer(ln, peer string) bool {
	return strings.Contains(ln, "..."+peer+" ") || strings.Contains(ln, "..."+peer+"===")
}

func classifyChild(lines []string) ChildResult {
	var r ChildResult
	for _, ln := range lines {
		switch {
		case childEstablishedRe.MatchString(ln):
			return ChildResult{Outcome: ChildEstablished, Lines: []string{ln}}
		case kernelNoESPRe.MatchString(ln):
			// The first attempt decides: after a fatal CHILD SA error pluto
			// revives the connection at once, and the next attempt's SA
			// (another SPI) may already be in the log.
			if r.Outcome != ChildKernelNoESP {
				m := kernelNoESPRe.FindStringSubmatch(ln)
				r = ChildResult{Outcome: ChildKernelNoESP, SPI: normalizeSPI(m[1]), SADst: m[2], Lines: []string{ln}}
			}
		case childRejectedRe.MatchString(ln):
			if r.Outcome != ChildKernelNoESP {
				r = ChildResult{Outcome: ChildRejectedByPeer, Notify: childRejectedRe.FindStringSubmatch(ln)[1], Lines: []string{ln}}
			}
		case childFailedRe.MatchString(ln):
			if r.Outcome == ChildPending {
				r = ChildResult{Outcome: ChildFailed}
			}
			r.Lines = append(r.Lines, ln)
		}
	}
	return r
}

// WaitChild waits until ChildResult for peer is no longer pending and returns it.
func (l *Libreswan) WaitChild(ctx context.Context, from int64, peer string) (ChildResult, error) {
	var r ChildResult
	err := waitFor(ctx, l.d, "a CHILD SA outcome with "+peer+" in pluto's log", func() (bool, error) {
		r = l.ChildResult(from, peer)
		return r.Outcome != ChildPending, nil
	})
	if err != nil {
		return r, fmt.Errorf("%w\nlast log lines:\n%s", err, tailFile(l.Log.path, 25))
	}
	return r, nil
}

// normalizeSPI pads pluto's SPI (printed without leading zeros) to 8 hex digits.
func normalizeSPI(h string) string {
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return h
	}
	return fmt.Sprintf("%08x", v)
}
