// Package layout holds no code: its test enforces the import rules of
// DESIGN.md, so that a lower layer never grows a dependency on a higher one.
package layout
