package dnskey

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TXTRecord is a parsed FreeS/WAN delegation record (RFC 4322):
//
//	X-IPsec-Server(10)=198.18.0.1 AwEAAb…
type TXTRecord struct {
	Precedence int // 0–65535, lower preferred
	Gateway    Gateway
	Key        *rsa.PublicKey // nil when the record carries no key
}

const txtTag = "x-ipsec-server"

// errNotIPsec marks a TXT record that is not an X-IPsec-Server record: it is
// ignored, not reported as skipped, as FreeS/WAN did.
var errNotIPsec = errors.New("not an X-IPsec-Server record")

// txtChunk is the length of the character-strings showhostkey writes the key
// in; any chunk shorter than 255 octets is re-joined with a space.
const txtChunk = 240

// ParseTXT parses the character-strings of one TXT record. A record that is
// not an X-IPsec-Server record yields an error wrapping errNotIPsec.
//
// Strings are re-joined two ways, because publishers split long records
// differently: first FreeS/WAN's rule (a space after every string shorter
// than 255 octets but the last), then plain concatenation (strongSwan's);
// whitespace inside the key is ignored either way. The first error is
// reported when neither parses.
func ParseTXT(strs []string) (TXTRecord, error) {
	if len(strs) == 0 {
		return TXTRecord{}, fmt.Errorf("empty TXT record: %w", errNotIPsec)
	}
	var spaced strings.Builder
	for i, s := range strs {
		spaced.WriteString(s)
		if len(s) < 255 && i < len(strs)-1 {
			spaced.WriteByte(' ')
		}
	}
	r, err := parseTXTBody(spaced.String())
	if err == nil || len(strs) == 1 {
		return r, err
	}
	if r2, err2 := parseTXTBody(strings.Join(strs, "")); err2 == nil {
		return r2, nil
	}
	return r, err
}

func parseTXTBody(s string) (TXTRecord, error) {
	var r TXTRecord
	s = strings.TrimLeft(s, " \t")
	if len(s) < len(txtTag) || !strings.EqualFold(s[:len(txtTag)], txtTag) {
		return r, errNotIPsec
	}
	s = strings.TrimLeft(s[len(txtTag):], " \t")
	if !strings.HasPrefix(s, "(") {
		return r, fmt.Errorf("X-IPsec-Server: want \"(\" and a precedence after the tag")
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return r, fmt.Errorf("X-IPsec-Server: precedence has no closing \")\"")
	}
	prec, err := parsePrecedence(strings.TrimSpace(s[1:end]))
	if err != nil {
		return r, err
	}
	r.Precedence = prec
	s = strings.TrimLeft(s[end+1:], " \t")
	if !strings.HasPrefix(s, "=") {
		return r, fmt.Errorf("X-IPsec-Server(%d): want \"=\" after the precedence", prec)
	}
	s = strings.TrimLeft(s[1:], " \t")
	gw, rest := s, ""
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		gw, rest = s[:i], s[i:]
	}
	if gw == "" {
		return r, fmt.Errorf("X-IPsec-Server(%d): no gateway", prec)
	}
	if gw == "." || strings.EqualFold(gw, "none") {
		return r, fmt.Errorf("X-IPsec-Server(%d): gateway %q: a TXT record must name its gateway", prec, gw)
	}
	r.Gateway, err = ParseGateway(gw)
	if err != nil {
		return r, fmt.Errorf("X-IPsec-Server(%d): %w", prec, err)
	}
	key := strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return -1
		}
		return c
	}, rest)
	if key == "" {
		return r, nil
	}
	if strings.HasPrefix(key, "0s") {
		key = key[2:]
	} else if strings.HasPrefix(key, "0x") || strings.HasPrefix(key, "0t") {
		return r, fmt.Errorf("X-IPsec-Server(%d): key in %q form; only base64 (bare or 0s) is accepted", prec, key[:2])
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return r, fmt.Errorf("X-IPsec-Server(%d): key is not base64: %w", prec, err)
	}
	r.Key, err = ParseRSAKey(raw)
	if err != nil {
		return r, fmt.Errorf("X-IPsec-Server(%d): %w", prec, err)
	}
	return r, nil
}

// parsePrecedence reads a 16-bit precedence in decimal or 0x hex. A decimal
// number with a leading zero is refused: FreeS/WAN read it as octal (C's
// strtoul base 0), so its meaning depends on the reader.
func parsePrecedence(s string) (int, error) {
	var v uint64
	var err error
	switch {
	case s == "":
		return 0, fmt.Errorf("X-IPsec-Server: empty precedence")
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		v, err = strconv.ParseUint(s[2:], 16, 16)
	case len(s) > 1 && s[0] == '0':
		return 0, fmt.Errorf("X-IPsec-Server: precedence %q has a leading zero (octal to FreeS/WAN, decimal to others)", s)
	default:
		v, err = strconv.ParseUint(s, 10, 16)
	}
	if err != nil {
		return 0, fmt.Errorf("X-IPsec-Server: precedence %q is not a number in 0-65535 (decimal or 0x hex)", s)
	}
	return int(v), nil
}

// FormatTXT renders r as the character-strings showhostkey publishes:
// "X-IPsec-Server(NN)=GATEWAY " then the base64 key in 240-octet strings.
func FormatTXT(r TXTRecord) ([]string, error) {
	if r.Gateway.Kind == GatewayNone {
		return nil, fmt.Errorf("a TXT record needs a gateway")
	}
	if r.Precedence < 0 || r.Precedence > 0xffff {
		return nil, fmt.Errorf("precedence %d is outside 0-65535", r.Precedence)
	}
	head := fmt.Sprintf("X-IPsec-Server(%d)=%s", r.Precedence, r.Gateway)
	if r.Key == nil {
		return []string{head}, nil
	}
	raw, err := MarshalRSAKey(r.Key)
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	out := []string{head + " "}
	for len(b64) > txtChunk {
		out = append(out, b64[:txtChunk])
		b64 = b64[txtChunk:]
	}
	return append(out, b64), nil
}
