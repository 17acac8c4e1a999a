// Package manpage writes oemesh's man pages: oemesh(8) and oemeshd(8), with
// a page per subcommand, from the programs' cobra commands, and
// oemesh.yaml(5) from the configuration schema (config.Reference). The
// programs call it from hidden hooks that `go generate` runs (`oemesh
// gen-man`, `oemeshd --gen-man`), so the committed pages in dist/man are
// always what the code says; a test in each program compares them.
//
// The pages carry the newest release of CHANGELOG.md and its date, not the
// build's, so that regenerating them changes nothing until a release.
//
// It must never be linked into anything but those hooks' callers, and
// never read configuration or state of the host.
package manpage
