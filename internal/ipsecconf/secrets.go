package ipsecconf

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Secret is one PSK entry of an ipsec.secrets file: the IDs it is shared
// between (none: a default for any pair) and the key.
type Secret struct {
	IDs  []string
	Key  []byte
	File string // where the entry is: Secrets.File or a file it includes
	Line int
}

// Secrets is the PSK entries of one ipsec.secrets file. Other kinds of
// entries (RSA, ECDSA, XAUTH, ...) are skipped: oemesh keeps private keys
// in PEM files.
type Secrets struct {
	File    string
	Entries []Secret
	// includes are the `include` lines, which ParseSecrets does not
	// follow and LoadSecrets does.
	includes []Setting
}

// LoadSecrets reads an ipsec.secrets-format file and the files it
// includes (include.go), refusing each unless only its owner can read it
// (mode 0600 or stricter).
func LoadSecrets(path string) (*Secrets, error) {
	return loadSecrets(path, nil)
}

func loadSecrets(path string, chain []string) (*Secrets, error) {
	s, err := loadSecretsFile(path)
	if err != nil {
		return nil, err
	}
	chain = append(slices.Clone(chain), absPath(path))
	for _, inc := range s.includes {
		files, err := includedFiles(inc, chain)
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			sub, err := loadSecrets(name, chain)
			if err != nil {
				return nil, err
			}
			s.Entries = append(s.Entries, sub.Entries...)
		}
	}
	s.includes = nil
	return s, nil
}

func loadSecretsFile(path string) (*Secrets, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets file %s: %w", path, err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("secrets file %s has mode %04o: others can read the keys; it must be 0600 (chmod 600 %s)", path, m, path)
	}
	return ParseSecrets(fh, path)
}

// ParseSecrets reads PSK entries: `[ID ...] : PSK "key"` (or 0x hex,
// 0s base64). Entries of other kinds, with `{ ... }` blocks, are skipped.
func ParseSecrets(r io.Reader, name string) (*Secrets, error) {
	s := &Secrets{File: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n, depth := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(stripComment(sc.Text()))
		if depth > 0 {
			depth += strings.Count(line, "{") - strings.Count(line, "}")
			continue
		}
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			pattern := strings.TrimSpace(rest)
			if pattern == "" || strings.ContainsAny(pattern, " \t") {
				return nil, fmt.Errorf("%s:%d: include needs one file name", name, n)
			}
			s.includes = append(s.includes, Setting{Key: "include", Value: pattern, File: name, Line: n})
			continue
		}
		ids, rest, ok := strings.Cut(line, ":")
		// An IPv6 address ID holds colons: the separator is the colon
		// followed by a blank and a kind word.
		if i := strings.Index(line, ": "); i >= 0 {
			ids, rest, ok = line[:i], line[i+2:], true
		} else if strings.HasPrefix(line, ":") {
			ids, rest, ok = "", line[1:], true
		}
		if !ok {
			return nil, fmt.Errorf("%s:%d: want `[IDs] : KIND value`", name, n)
		}
		rest = strings.TrimSpace(rest)
		kind, val, _ := strings.Cut(rest, " ")
		val = strings.TrimSpace(val)
		if !strings.EqualFold(kind, "PSK") {
			depth = strings.Count(rest, "{") - strings.Count(rest, "}")
			continue
		}
		key, err := secretValue(val)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: PSK: %w", name, n, err)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("%s:%d: PSK is empty", name, n)
		}
		s.Entries = append(s.Entries, Secret{IDs: strings.Fields(ids), Key: key, File: name, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return s, nil
}

func secretValue(v string) ([]byte, error) {
	switch {
	case strings.HasPrefix(v, `"`):
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return nil, fmt.Errorf("unterminated quoted key")
		}
		return []byte(v[1 : len(v)-1]), nil
	case strings.HasPrefix(v, "0x"), strings.HasPrefix(v, "0X"):
		b, err := hex.DecodeString(strings.ReplaceAll(v[2:], "_", ""))
		if err != nil {
			return nil, fmt.Errorf("bad hex key: %w", err)
		}
		return b, nil
	case strings.HasPrefix(v, "0s"):
		b, err := base64.StdEncoding.DecodeString(v[2:])
		if err != nil {
			return nil, fmt.Errorf("bad base64 key: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("want a quoted string, 0x hex or 0s base64 key, got %q", v)
}

// PSK returns the key shared between local and remote (IDs as written in
// the file: an address or @fqdn), the best match first as Libreswan
// chooses: an entry naming both IDs, then one naming the remote ID, then
// one naming none. ok is false when no entry fits.
func (s *Secrets) PSK(local, remote string) (key []byte, line int, ok bool) {
	e, ok := s.find(local, remote)
	if !ok {
		return nil, 0, false
	}
	return bytes.Clone(e.Key), e.Line, true
}

// find returns the entry PSK chooses, with the file it is in.
func (s *Secrets) find(local, remote string) (Secret, bool) {
	best := -1
	var found Secret
	for _, e := range s.Entries {
		score := -1
		switch {
		case len(e.IDs) == 0:
			score = 0
		case slices.Contains(e.IDs, remote) && (len(e.IDs) == 1 || slices.Contains(e.IDs, local)):
			score = len(e.IDs)
		case slices.Contains(e.IDs, local) && len(e.IDs) == 1:
			score = 0
		}
		if score > best {
			best, found = score, e
		}
	}
	return found, best >= 0
}
