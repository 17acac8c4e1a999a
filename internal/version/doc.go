// Package version says which oemesh this is: the release version, the commit
// and the build date, for `oemesh version`, `oemeshd --version` and the
// oemesh_build_info metric, so that the three cannot disagree.
//
// A release build sets the values with the linker (the Makefile does):
//
//	go build -ldflags "-X github.com/oemesh/oemesh/internal/version.version=1.0.0 \
//	    -X github.com/oemesh/oemesh/internal/version.commit=$(git rev-parse HEAD) \
//	    -X github.com/oemesh/oemesh/internal/version.date=2026-12-06T15:00:00Z"
//
// A plain `go build` or `go install` falls back to what the Go toolchain
// records in the binary (debug.ReadBuildInfo: the module version, and the
// VCS revision and time when built from a checkout with -buildvcs).
//
// The package must never import anything of oemesh: every binary links it.
package version
