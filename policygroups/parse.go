package policygroups

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// maxLineLen bounds one line of a policy file; longer lines are an error,
// not a reason to read without limit.
const maxLineLen = 4096

// Item is one meaningful line of a policy file: a prefix, or a host name
// still to be resolved.
type Item struct {
	Pos    Position
	Prefix netip.Prefix // valid unless Host is set
	Host   string
}

// ParseFile reads one policy group file. Each line holds a CIDR, a bare
// address (a /32 or /128), or a host name; '#' starts a comment; blank lines
// are ignored. It returns every item it could read and an error for every
// line it could not, each naming file and line.
func ParseFile(name string, r io.Reader) ([]Item, Errors) {
	var items []Item
	errs := parse(name, r, func(it Item) { items = append(items, it) })
	return items, errs
}

// parse calls emit for each item of a policy file and returns the errors.
func parse(name string, r io.Reader, emit func(Item)) Errors {
	var errs Errors
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		pos := Position{File: name, Line: line}
		text := sc.Bytes()
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		if bytes.ContainsAny(text, " \t\v\f\r") {
			n := len(bytes.Fields(text))
			errs = append(errs, &LineError{Pos: pos, Value: string(text),
				Msg: "one CIDR, address or host name per line; found " + strconv.Itoa(n) + " words"})
			continue
		}
		it, err := parseToken(pos, string(text))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		emit(it)
	}
	if err := sc.Err(); err != nil {
		msg := err.Error()
		if err == bufio.ErrTooLong {
			msg = "line longer than " + strconv.Itoa(maxLineLen) + " bytes"
		}
		errs = append(errs, &LineError{Pos: Position{File: name, Line: line + 1}, Msg: msg})
	}
	return errs
}

func parseToken(pos Position, tok string) (Item, *LineError) {
	if strings.ContainsRune(tok, '/') {
		p, err := netip.ParsePrefix(tok)
		if err != nil {
			return Item{}, &LineError{Pos: pos, Value: tok, Msg: "not a valid CIDR: " + trimNetipErr(err)}
		}
		if p.Addr().Zone() != "" {
			return Item{}, &LineError{Pos: pos, Value: tok, Msg: "a zone is not allowed in a policy prefix"}
		}
		if m := p.Masked(); m != p {
			return Item{}, &LineError{Pos: pos, Value: tok,
				Msg: "host bits set after the prefix length; did you mean " + m.String() + "?"}
		}
		if p.Addr().Is4In6() {
			return Item{}, &LineError{Pos: pos, Value: tok, Msg: "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"}
		}
		return Item{Pos: pos, Prefix: p}, nil
	}
	if a, err := netip.ParseAddr(tok); err == nil {
		if a.Zone() != "" {
			return Item{}, &LineError{Pos: pos, Value: tok, Msg: "a zone is not allowed in a policy address"}
		}
		a = a.Unmap()
		return Item{Pos: pos, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	} else if looksNumeric(tok) {
		return Item{}, &LineError{Pos: pos, Value: tok, Msg: "not a valid address: " + trimNetipErr(err)}
	}
	if !validHostName(tok) {
		return Item{}, &LineError{Pos: pos, Value: tok, Msg: "not a CIDR, an address or a host name"}
	}
	return Item{Pos: pos, Host: strings.TrimSuffix(tok, ".")}, nil
}

// looksNumeric reports whether tok is made only of what addresses are made
// of, so that "10.0.0.300" is reported as a bad address, not a bad host name.
func looksNumeric(tok string) bool {
	hasDigit := false
	for _, c := range tok {
		switch {
		case c >= '0' && c <= '9':
			hasDigit = true
		case c == '.' || c == ':':
		case (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
			if !strings.ContainsRune(tok, ':') {
				return false
			}
		default:
			return false
		}
	}
	return hasDigit
}

// validHostName accepts LDH labels of 1-63 bytes, 253 bytes in all, with an
// optional trailing dot.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func trimNetipErr(err error) string {
	msg := err.Error()
	// netip's messages repeat the input; keep the reason after the last ": ".
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
