package policygroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// PortExcludesFile is the name of Libreswan's port exclusion file in a
// policy directory.
const PortExcludesFile = "portexcludes.conf"

//go:generate go tool stringer -type=Direction -linecomment

// Direction is the first field of a portexcludes.conf line: which side of
// the rule is ours.
type Direction uint8

// Directions; the line comments are the words of the file.
const (
	// In: the source is the peer, the destination is this host (e.g.
	// "in tcp any 22": our port 22, whoever connects to it).
	In Direction = iota + 1 // in
	// Out: the source is this host, the destination is the peer (e.g.
	// "out tcp any 22": the peers' port 22).
	Out // out
	// Both: the rule read both ways, as an In and an Out rule.
	Both // both
)

// Endpoint is one side of an exclusion: a prefix and a port. An invalid
// Prefix is "any" address of either family; Port 0 is any port.
type Endpoint struct {
	Prefix netip.Prefix
	Port   uint16
}

// Contains reports whether the endpoint holds addr and port. An invalid
// addr (not known, as for a flow asked about without its source) matches
// any prefix; port 0 (not known) matches only an endpoint of any port.
func (e Endpoint) Contains(addr netip.Addr, port uint16) bool {
	if e.Prefix.IsValid() && addr.IsValid() && !e.Prefix.Contains(addr) {
		return false
	}
	return e.Port == 0 || e.Port == port
}

func (e Endpoint) String() string {
	switch {
	case !e.Prefix.IsValid() && e.Port == 0:
		return "any"
	case !e.Prefix.IsValid():
		return strconv.Itoa(int(e.Port))
	case e.Port == 0:
		return e.Prefix.String()
	}
	return e.Prefix.String() + "@" + strconv.Itoa(int(e.Port))
}

// Exclusion is one line of portexcludes.conf: flows that match it stay
// clear whatever group their peer's address is in. A line is a selector
// more specific than any prefix, since it also names a protocol and
// ports. Like Libreswan's pass conns, an exclusion holds both directions
// of its flows: "in tcp any 22" keeps a session to our port 22 clear, its
// replies included.
type Exclusion struct {
	Pos       Position
	Direction Direction
	// Proto is the IP protocol number (6 for tcp); never 0.
	Proto uint8
	// Local and Remote are this host's side and the peer's side. For Out
	// they are the line's source and destination; for In, the other way
	// round; Both is matched either way.
	Local, Remote Endpoint
	// Priority is the line's last field, Libreswan's SPD priority (lower
	// goes first). The data planes put every exclusion above every trap,
	// so it only orders exclusions among themselves.
	Priority uint32
}

// Flow is a flow from this host (Src, SrcPort) to a peer (Dst, DstPort).
// An invalid Src is any of our addresses; port 0 is not known.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// Matches reports whether the exclusion takes the flow out of OE.
func (x Exclusion) Matches(f Flow) bool {
	if x.Proto != f.Proto {
		return false
	}
	src, dst := f.Src.Unmap().WithZone(""), f.Dst.Unmap().WithZone("")
	if !dst.IsValid() {
		return false
	}
	if x.Local.Contains(src, f.SrcPort) && x.Remote.Contains(dst, f.DstPort) {
		return true
	}
	// Both is also the In rule: the line's source is then the peer.
	return x.Direction == Both && x.Remote.Contains(src, f.SrcPort) && x.Local.Contains(dst, f.DstPort)
}

// String is the line as it reads back: direction, protocol, source,
// destination, priority.
func (x Exclusion) String() string {
	src, dst := x.Local, x.Remote
	if x.Direction == In {
		src, dst = dst, src
	}
	return fmt.Sprintf("%s %s %s %s %d", x.Direction, ProtoName(x.Proto), src, dst, x.Priority)
}

// protocols are the protocol names a portexcludes.conf line may use. It is
// a fixed table, not /etc/protocols, so that a file means the same on every
// host; any other protocol is written as its number.
var protocols = map[string]uint8{
	"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
	"ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136,
}

// ProtoName is the name of IP protocol p, or its number.
func ProtoName(p uint8) string {
	switch p {
	case 58:
		return "ipv6-icmp"
	}
	for n, v := range protocols {
		if v == p && n != "icmpv6" {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// ParseProto reads an IP protocol as portexcludes.conf writes it: a name
// (tcp, udp, icmp, ipv6-icmp or icmpv6, sctp, udplite, gre, esp, ah) or a
// number from 1 to 255.
func ParseProto(s string) (uint8, error) {
	if p, ok := protocols[strings.ToLower(s)]; ok {
		return p, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil && n > 0 {
		return uint8(n), nil
	}
	return 0, errors.New("want a name (tcp, udp, icmp, ipv6-icmp, sctp, udplite, gre, esp, ah) or a number from 1 to 255")
}

// ParsePortExcludes reads a portexcludes.conf: one exclusion a line,
// "direction protocol source destination priority", '#' starting a
// comment. Direction is in, out or both; protocol a name (tcp, udp, icmp,
// ipv6-icmp, sctp, udplite, gre, esp, ah) or a number 1-255; source and
// destination each "any", "any4", "any6", a port alone (any address), a
// CIDR or address, or CIDR@port; priority a number. It returns every line
// it could read and an error, naming file and line, for every line it
// could not.
func ParsePortExcludes(name string, r io.Reader) ([]Exclusion, Errors) {
	var (
		out  []Exclusion
		errs Errors
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(string(text))
		if len(fields) == 0 {
			continue
		}
		x, err := parseExclusion(Position{File: name, Line: line}, fields)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, x)
	}
	if err := sc.Err(); err != nil {
		msg := err.Error()
		if err == bufio.ErrTooLong {
			msg = "line longer than " + strconv.Itoa(maxLineLen) + " bytes"
		}
		errs = append(errs, &LineError{Pos: Position{File: name, Line: line + 1}, Msg: msg})
	}
	return out, errs
}

func parseExclusion(pos Position, f []string) (Exclusion, *LineError) {
	bad := func(v, msg string) (Exclusion, *LineError) {
		return Exclusion{}, &LineError{Pos: pos, Value: v, Msg: msg}
	}
	if len(f) != 5 {
		return bad(strings.Join(f, " "), fmt.Sprintf("want 5 fields (direction protocol source destination priority), found %d", len(f)))
	}
	x := Exclusion{Pos: pos}
	switch f[0] {
	case "in":
		x.Direction = In
	case "out":
		x.Direction = Out
	case "both":
		x.Direction = Both
	default:
		return bad(f[0], "direction: want in, out or both")
	}
	proto, perr := ParseProto(f[1])
	if perr != nil {
		return bad(f[1], "protocol: "+perr.Error())
	}
	x.Proto = proto
	src, sfam, err := parseEndpoint(f[2])
	if err != "" {
		return bad(f[2], "source: "+err)
	}
	dst, dfam, err := parseEndpoint(f[3])
	if err != "" {
		return bad(f[3], "destination: "+err)
	}
	if sfam != 0 && dfam != 0 && sfam != dfam {
		return bad(f[2]+" "+f[3], "source and destination are of different address families")
	}
	if !src.Prefix.IsValid() && !dst.Prefix.IsValid() && src.Port == 0 && dst.Port == 0 {
		return bad(f[2]+" "+f[3], "any address and port to any: this would exclude all traffic of the protocol; name a port or a prefix")
	}
	// "any4" / "any6" beside "any": the family of the other side decides.
	fam := max(sfam, dfam)
	src.Prefix, dst.Prefix = anyOf(src.Prefix, sfam, fam), anyOf(dst.Prefix, dfam, fam)
	prio, perr := strconv.ParseUint(f[4], 10, 32)
	if perr != nil {
		return bad(f[4], "priority: want a number from 0 to 4294967295")
	}
	x.Priority = uint32(prio)
	x.Local, x.Remote = src, dst
	if x.Direction == In {
		x.Local, x.Remote = dst, src
	}
	return x, nil
}

// anyOf makes "any4"/"any6" (a family with no prefix) the family's /0.
func anyOf(p netip.Prefix, fam, want int) netip.Prefix {
	if p.IsValid() || fam == 0 && want == 0 {
		return p
	}
	if fam == 0 {
		fam = want
	}
	if fam == 4 {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
}

// parseEndpoint reads one side: any, any4, any6, PORT, NET or NET@PORT. It
// returns the family (4, 6, or 0 for any) and a reason when it fails.
func parseEndpoint(s string) (Endpoint, int, string) {
	switch s {
	case "any":
		return Endpoint{}, 0, ""
	case "any4":
		return Endpoint{}, 4, ""
	case "any6":
		return Endpoint{}, 6, ""
	}
	if isDigits(s) {
		port, err := parsePort(s)
		return Endpoint{Port: port}, 0, err
	}
	net, portText, hasPort := strings.Cut(s, "@")
	var e Endpoint
	if hasPort {
		port, err := parsePort(portText)
		if err != "" {
			return e, 0, err
		}
		e.Port = port
	}
	var (
		p   netip.Prefix
		err error
	)
	if strings.ContainsRune(net, '/') {
		p, err = netip.ParsePrefix(net)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(net); err == nil {
			if a.Zone() != "" {
				return e, 0, "a zone is not allowed"
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	switch {
	case err != nil:
		return e, 0, "want any, any4, any6, a port, or a CIDR or address with an optional @port: " + trimNetipErr(err)
	case p.Addr().Zone() != "":
		return e, 0, "a zone is not allowed"
	case p.Addr().Is4In6():
		return e, 0, "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"
	case p.Masked() != p:
		return e, 0, "host bits set after the prefix length; did you mean " + p.Masked().String() + "?"
	}
	e.Prefix = p
	if p.Addr().Is4() {
		return e, 4, ""
	}
	return e, 6, ""
}

func parsePort(s string) (uint16, string) {
	if !isDigits(s) {
		return 0, fmt.Sprintf("port %q: want a number from 0 to 65535 (one port, not a range or a name)", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Sprintf("port %q: want a number from 0 to 65535", s)
	}
	return uint16(n), ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
