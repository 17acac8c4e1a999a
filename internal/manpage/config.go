package manpage

import (
	"fmt"
	"io"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"

	"github.com/oemesh/oemesh/internal/config"
)

// Config writes oemesh.yaml(5): the file's form, then every key of keys
// with its type, default, flag and environment variable, grouped by the
// section of the file it sits in.
func Config(w io.Writer, keys []config.KeyDoc, rel Release) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%% \"OEMESH.YAML\" \"5\" %q \"oemesh %s\" \"oemesh Manual\"\n\n", rel.Date.Format("Jan 2006"), rel.Version)
	b.WriteString(configIntro)
	section := "-"
	for _, k := range keys {
		if s := sectionOf(k.Name); s != section {
			section = s
			if s == "" {
				b.WriteString("\n## TOP-LEVEL KEYS\n\n")
			} else {
				fmt.Fprintf(&b, "\n## %s: KEYS\n\n", strings.ToUpper(s))
			}
		}
		fmt.Fprintf(&b, "**%s** (%s, default `%s`)\n: %s.\n  Flag **%s**, environment **%s**.\n\n",
			k.Name, k.Type, k.Default, escape(k.Help), k.Flag, k.Env)
	}
	b.WriteString(configOutro)
	_, err := w.Write(md2man.Render([]byte(b.String())))
	return err
}

// sectionOf is the first part of a dotted key ("dns" for dns.bindings.max),
// or "" for a top-level key.
func sectionOf(name string) string {
	s, _, ok := strings.Cut(name, ".")
	if !ok {
		return ""
	}
	return s
}

// escape keeps Markdown from reading a help text's characters as markup.
func escape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `\<`).Replace(strings.TrimSuffix(s, "."))
}

const configIntro = `# NAME

oemesh.yaml - configuration of oemeshd, the oemesh opportunistic-encryption IPsec daemon

# SYNOPSIS

**/etc/oemesh/oemesh.yaml**

# DESCRIPTION

**oemeshd**(8) reads its configuration from **/etc/oemesh/oemesh.yaml**, or the file
given with **--config** (YAML, or TOML when the name ends in **.toml**). Every key is
optional: the defaults below apply to those the file leaves out. A key's value can
be overridden by its environment variable, and that by its command-line flag.
Unknown keys, and values of the wrong type or out of range, are errors that
**oemeshd --check-config** reports with the key and where it was set.

Dotted names are nested YAML maps: **dns.timeout** is written

    dns:
      timeout: 2s

Durations take a unit (**500ms**, **2s**, **15m**, **4h**); lists are YAML lists
(**[a, b]**), or comma-separated in environment variables and flags.

Configured connections (fixed tunnels beside opportunistic encryption) are the
**conns:** list of the same file; **oemesh conn --help** and the project's
documentation describe their keys. The policy groups are files in the
**policies** directory, not keys of this file.
`

const configOutro = `
# FILES

**/etc/oemesh/oemesh.yaml**
: the configuration file; the package installs one that lists every key with its default.

**/etc/oemesh/hostkey.pem**
: the host key, made by **oemesh newhostkey**.

**/etc/ipsec.d/policies/**
: the policy group files: **clear**, **clear-or-private**, **private-or-clear**, **private** and **block**.

# SEE ALSO

**oemeshd**(8), **oemesh**(8)
`
