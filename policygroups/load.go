package policygroups

import (
	"context"
	"errors"
	"fmt"
	"github.com/gaissmai/bart"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// HostResolver resolves host names written in policy files. *net.Resolver
// satisfies it.
type HostResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// LoadOptions tunes Load.
type LoadOptions struct {
	// Resolver resolves host names; nil means host names are reported as
	// warnings and skipped.
	Resolver HostResolver
	// ResolveTimeout bounds each host name lookup (default 5s).
	ResolveTimeout time.Duration
}

// Warning is a problem that does not stop a load, e.g. a host name that did
// not resolve or a prefix listed twice in one group.
type Warning struct {
	Pos Position
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Load reads the five group files from dir; a missing file is an empty
// group. It returns the policy, warnings, and, when any line is wrong, an
// Errors value listing every bad line (the policy is then nil: a policy with
// errors is never half-applied).
func Load(ctx context.Context, dir string, opts LoadOptions) (*Policy, []Warning, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("policy directory: %w", err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("policy directory %s: not a directory", dir)
	}
	return LoadFS(ctx, os.DirFS(dir), dir, opts)
}

// LoadFS is Load over any file system; dir names the files in messages.
func LoadFS(ctx context.Context, fsys fs.FS, dir string, opts LoadOptions) (*Policy, []Warning, error) {
	if opts.ResolveTimeout <= 0 {
		opts.ResolveTimeout = 5 * time.Second
	}
	var (
		entries  []entry
		warnings []Warning
		errs     Errors
	)
	p := newEmptyPolicy(dir)
	// About 16 bytes a line: reserve once instead of growing a
	// million-entry slice step by step.
	var total int64
	for _, g := range Groups {
		if st, err := fs.Stat(fsys, g.String()); err == nil && st.Mode().IsRegular() {
			total += st.Size()
		}
	}
	entries = make([]entry, 0, min(total/16, 4<<20))
	for _, g := range Groups {
		name := p.file(g)
		f, err := fsys.Open(g.String())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, &LineError{Pos: Position{File: name}, Msg: "cannot open: " + err.Error()})
			continue
		}
		errs = append(errs, parse(name, f, func(it Item) {
			if it.Host == "" {
				entries = append(entries, entry{prefix: it.Prefix, line: int32(it.Pos.Line), group: g})
				return
			}
			addrs, werr := resolve(ctx, opts, it.Host)
			if werr != "" {
				warnings = append(warnings, Warning{Pos: it.Pos, Msg: fmt.Sprintf("host name %q: %s; skipped", it.Host, werr)})
				return
			}
			for _, a := range addrs {
				entries = append(entries, entry{prefix: netip.PrefixFrom(a, a.BitLen()), host: it.Host, line: int32(it.Pos.Line), group: g})
			}
		})...)
		f.Close()
	}
	excl, xerrs := loadExclusions(fsys, dir)
	errs = append(errs, xerrs...)
	p.excl = excl
	warnings = append(warnings, unknownFiles(fsys, dir)...)
	dupWarnings, conflicts := p.index(entries)
	warnings = append(warnings, dupWarnings...)
	errs = append(errs, conflicts...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *LineError) int {
			if a.Pos.File != b.Pos.File {
				return groupIndex(a.Pos.File) - groupIndex(b.Pos.File)
			}
			return a.Pos.Line - b.Pos.Line
		})
		return nil, warnings, errs
	}
	return p, warnings, nil
}

// groupIndex orders file names by the group they hold (portexcludes.conf
// last), for stable reports.
func groupIndex(file string) int {
	base := filepath.Base(file)
	for i, g := range Groups {
		if g.String() == base {
			return i
		}
	}
	if base == PortExcludesFile {
		return len(Groups)
	}
	return len(Groups) + 1
}

// loadExclusions reads portexcludes.conf, if there is one.
func loadExclusions(fsys fs.FS, dir string) ([]Exclusion, Errors) {
	name := filepath.Join(dir, PortExcludesFile)
	f, err := fsys.Open(PortExcludesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, Errors{{Pos: Position{File: name}, Msg: "cannot open: " + err.Error()}}
	}
	defer f.Close()
	return ParsePortExcludes(name, f)
}

// unknownFiles warns of every entry of the directory that is neither a
// group file nor portexcludes.conf: a misspelt group name (or a file
// another tool left there) would otherwise be ignored without a word.
func unknownFiles(fsys fs.FS, dir string) []Warning {
	des, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil // the group files' own errors say what is wrong
	}
	var out []Warning
	for _, de := range des {
		name := de.Name()
		if groupIndex(name) <= len(Groups) {
			continue
		}
		what := "file"
		if de.IsDir() {
			what = "directory"
		}
		out = append(out, Warning{Pos: Position{File: filepath.Join(dir, name)},
			Msg: fmt.Sprintf("unknown %s: not a policy group (clear, clear-or-private, private-or-clear, private, block) or %s; ignored", what, PortExcludesFile)})
	}
	return out
}

func resolve(ctx context.Context, opts LoadOptions, host string) ([]netip.Addr, string) {
	if opts.Resolver == nil {
		return nil, "no resolver available"
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ResolveTimeout)
	defer cancel()
	addrs, err := opts.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, "does not resolve: " + err.Error()
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, "resolved to no addresses"
	}
	return out, ""
}

// index fills the lookup table from entries in reading order. A repeat of a
// prefix within one group is dropped with a warning; the same prefix in two
// groups is an error naming both places.
func (p *Policy) index(entries []entry) ([]Warning, Errors) {
	var (
		warnings []Warning
		errs     Errors
	)
	t := new(bart.Fast[uint32])
	out := entries[:0]
	for _, e := range entries {
		var (
			i    uint32
			seen bool
		)
		// One walk of the trie: keep the first place, or claim the slot.
		t.Modify(e.prefix, func(old uint32, ok bool) (uint32, bool) {
			if ok {
				i, seen = old>>groupBits, true
				return old, false
			}
			return uint32(len(out))<<groupBits | uint32(e.group), false
		})
		if !seen {
			out = append(out, e)
			continue
		}
		pe, ee := p.export(&out[i]), p.export(&e)
		if pe.Group == ee.Group {
			warnings = append(warnings, Warning{Pos: ee.Source,
				Msg: fmt.Sprintf("%s already listed at %s; ignored", describe(ee), pe.Source)})
			continue
		}
		errs = append(errs, &LineError{Pos: ee.Source, Value: e.prefix.String(),
			Msg: fmt.Sprintf("also in group %s at %s; a prefix may be in one group only", pe.Group, pe.Source)})
	}
	p.table, p.entries = t, out
	return warnings, errs
}

func describe(e Entry) string {
	if e.Host != "" {
		return fmt.Sprintf("%s (from %s)", e.Prefix, strings.TrimSuffix(e.Host, "."))
	}
	return e.Prefix.String()
}
