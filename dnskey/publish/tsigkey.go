package publish

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// TSIGKey is a shared secret that signs UPDATE messages (RFC 8945).
type TSIGKey struct {
	Name      string // fully qualified, lower case: "oemesh-b.example."
	Algorithm string // a miekg/dns algorithm name: dns.HmacSHA256 ("hmac-sha256.")
	Secret    string // base64, as the server's configuration holds it
}

// algorithms maps the names key files use to miekg/dns's.
var algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// LoadTSIGKey reads a key file (see ParseTSIGKey). It refuses a file that
// group or others may read or write: the secret lets anyone rewrite our
// records.
func LoadTSIGKey(path string) (TSIGKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return TSIGKey{}, fmt.Errorf("TSIG key file: %w", err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return TSIGKey{}, fmt.Errorf("TSIG key file %s has mode %04o: others may read the secret; chmod 600 it", path, m)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return TSIGKey{}, fmt.Errorf("TSIG key file: %w", err)
	}
	k, err := ParseTSIGKey(string(data))
	if err != nil {
		return TSIGKey{}, fmt.Errorf("TSIG key file %s: %w", path, err)
	}
	return k, nil
}

// ParseTSIGKey reads a TSIG key in one of two forms:
//
//   - BIND's and knot's key clause, as tsig-keygen writes it:
//     key "name" { algorithm hmac-sha256; secret "base64"; };
//   - one line ALGORITHM:NAME:SECRET, the form kdig and knsupdate take
//     with -y (ALGORITHM may be left out: hmac-sha256).
//
// Comments (#, //) and blank lines are ignored. Only HMAC-SHA1 and
// HMAC-SHA2 algorithms are accepted.
func ParseTSIGKey(text string) (TSIGKey, error) {
	text = stripComments(text)
	if strings.TrimSpace(text) == "" {
		return TSIGKey{}, errors.New("empty: want key \"name\" { algorithm hmac-sha256; secret \"...\"; }; or hmac-sha256:name:secret")
	}
	var k TSIGKey
	var err error
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "key") && strings.ContainsAny(t, "{") {
		k, err = parseKeyClause(t)
	} else {
		k, err = parseColonForm(t)
	}
	if err != nil {
		return TSIGKey{}, err
	}
	return k.check()
}

// stripComments removes # and // comments outside quoted strings; a //
// comment starts a line or follows a space or tab. A base64 secret may
// hold "//" (about one random HMAC-SHA256 secret in a hundred does), in
// quotes in a key clause, bare in the colon form, but never a space.
func stripComments(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		quoted := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '"' {
				quoted = !quoted
			}
			slashes := c == '/' && i+1 < len(line) && line[i+1] == '/' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t')
			if !quoted && (c == '#' || slashes) {
				line = line[:i]
				break
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func parseColonForm(t string) (TSIGKey, error) {
	if strings.ContainsAny(t, " \t\n") {
		return TSIGKey{}, fmt.Errorf("%q is neither a key clause nor one ALGORITHM:NAME:SECRET line", abbreviate(t))
	}
	parts := strings.Split(t, ":")
	switch len(parts) {
	case 2:
		return TSIGKey{Algorithm: "hmac-sha256", Name: parts[0], Secret: parts[1]}, nil
	case 3:
		return TSIGKey{Algorithm: parts[0], Name: parts[1], Secret: parts[2]}, nil
	}
	return TSIGKey{}, fmt.Errorf("%q: want ALGORITHM:NAME:SECRET (or NAME:SECRET)", abbreviate(t))
}

// parseKeyClause reads key "name" { algorithm ALG; secret "SECRET"; };
func parseKeyClause(t string) (TSIGKey, error) {
	if strings.Count(t, "{") > 1 {
		return TSIGKey{}, errors.New("more than one { ... }: one key clause per file")
	}
	rest := strings.TrimSpace(strings.TrimPrefix(t, "key"))
	open := strings.Index(rest, "{")
	close := strings.LastIndex(rest, "}")
	if open < 0 || close < open {
		return TSIGKey{}, errors.New("key clause without { ... }")
	}
	if tail := strings.TrimSpace(rest[close+1:]); tail != ";" && tail != "" {
		return TSIGKey{}, fmt.Errorf("text after the key clause: %q (one key per file)", abbreviate(tail))
	}
	var k TSIGKey
	k.Name = unquote(strings.TrimSpace(rest[:open]))
	if k.Name == "" {
		return TSIGKey{}, errors.New("key clause without a name")
	}
	for _, stmt := range strings.Split(rest[open+1:close], ";") {
		f := strings.Fields(stmt)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return TSIGKey{}, fmt.Errorf("statement %q: want a keyword and one value", abbreviate(strings.TrimSpace(stmt)))
		}
		switch f[0] {
		case "algorithm":
			if k.Algorithm != "" {
				return TSIGKey{}, errors.New("algorithm given twice")
			}
			k.Algorithm = unquote(f[1])
		case "secret":
			if k.Secret != "" {
				return TSIGKey{}, errors.New("secret given twice")
			}
			k.Secret = unquote(f[1])
		default:
			return TSIGKey{}, fmt.Errorf("unknown statement %q in the key clause (want algorithm and secret)", f[0])
		}
	}
	if k.Algorithm == "" {
		return TSIGKey{}, errors.New("key clause without an algorithm")
	}
	if k.Secret == "" {
		return TSIGKey{}, errors.New("key clause without a secret")
	}
	return k, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// check validates and canonicalises the fields.
func (k TSIGKey) check() (TSIGKey, error) {
	alg, ok := algorithms[strings.ToLower(strings.TrimSuffix(k.Algorithm, "."))]
	if !ok {
		return TSIGKey{}, fmt.Errorf("unsupported TSIG algorithm %q (want hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224 or hmac-sha1)", k.Algorithm)
	}
	k.Algorithm = alg
	name := strings.ToLower(dns.Fqdn(k.Name))
	if _, ok := dns.IsDomainName(name); !ok || strings.ContainsAny(name, " \t\"{}") {
		return TSIGKey{}, fmt.Errorf("key name %q is not a domain name", k.Name)
	}
	k.Name = name
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return TSIGKey{}, fmt.Errorf("secret of key %s is not base64: %w", k.Name, err)
	}
	if len(raw) == 0 {
		return TSIGKey{}, fmt.Errorf("key %s has an empty secret", k.Name)
	}
	return k, nil
}

// abbreviate keeps secrets and long junk out of error messages.
func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:20] + "…"
	}
	return s
}
