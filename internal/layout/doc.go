// Package layout holds no code: its test enforces the import rules that the
// README's Layout section describes, so that a lower layer never grows a
// dependency on a higher one. The rules themselves are the table in
// layout_test.go.
package layout
