package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// domainPackages hold the typed data the daemon serves. Their types carry
// no JSON tags: the control API's wire types live in internal/control,
// and cmd/oemeshd converts (cmd/oemeshd/views.go).
var domainPackages = []string{"policygroups", "dnskey", "ike", "kernel", "oe"}

// TestNoWireTypesOutsideControl fails when a non-test file of a domain
// package declares a struct field with a json tag.
func TestNoWireTypesOutsideControl(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	for _, dir := range domainPackages {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			checked++
			for _, line := range jsonTagged(t, path) {
				t.Errorf("%s:%d: a struct field with a json tag: wire types belong in internal/control, and cmd/oemeshd converts to them", rel, line)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: is the walk rooted right?", checked)
	}
}

// jsonTagged lists the lines of a Go file's struct fields whose tag has a
// json key.
func jsonTagged(t *testing.T, path string) []int {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	ast.Inspect(f, func(n ast.Node) bool {
		field, ok := n.(*ast.Field)
		if !ok || field.Tag == nil {
			return true
		}
		tag, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			return true
		}
		if _, ok := reflect.StructTag(tag).Lookup("json"); ok {
			out = append(out, fset.Position(field.Pos()).Line)
		}
		return true
	})
	return out
}
