package config

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// distConfig is the configuration file the package installs as
// /etc/oemesh/oemesh.yaml: the operator's reference for every key.
const distConfig = "../../dist/oemesh.yaml"

// flatten lists the dotted names of m's leaves with their values, as
// the schema names them ("dns.stub.listen"); conns, a list of tables, is
// left out.
func flatten(m map[string]any, prefix string, out map[string]any) {
	for k, v := range m {
		name := prefix + k
		if name == "conns" {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(sub, name+".", out)
			continue
		}
		out[name] = v
	}
}

// TestDistConfigDocumentsEverySchemaKey keeps dist/oemesh.yaml and the
// schema from drifting: the file sets every key the schema has, no other,
// each to its default, and oemeshd loads it.
func TestDistConfigDocumentsEverySchemaKey(t *testing.T) {
	b, err := os.ReadFile(distConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", distConfig, err)
	}
	got := map[string]any{}
	flatten(doc, "", got)
	for _, k := range schema {
		raw, ok := got[k.name]
		if !ok {
			t.Errorf("%s does not document key %s (default %s): add it, with a comment", distConfig, k.name, yamlValue(k.def))
			continue
		}
		v, err := convert(k, raw)
		if err != nil {
			t.Errorf("%s: key %s: %v", distConfig, k.name, err)
			continue
		}
		def, err := convert(k, k.def) // the schema writes ports as int
		if err != nil {
			t.Fatalf("key %s: its own default: %v", k.name, err)
		}
		if !reflect.DeepEqual(v, def) && !(isEmptyList(v) && isEmptyList(def)) {
			t.Errorf("%s: key %s is %v, but its default is %v: the file shows the defaults", distConfig, k.name, v, k.def)
		}
	}
	for name := range got {
		if _, ok := lookupKey(name); !ok {
			t.Errorf("%s sets %s, which the schema does not have", distConfig, name)
		}
	}
	if _, ok := doc["conns"]; !ok {
		t.Errorf("%s has no conns: section", distConfig)
	}
	if _, err := Load(Options{File: distConfig, FileRequired: true}); err != nil {
		t.Errorf("oemeshd refuses the shipped configuration: %v", err)
	}
}

func isEmptyList(v any) bool {
	l, ok := v.([]string)
	return ok && len(l) == 0
}

// connKeyLine is a conn key in the commented example under conns:, e.g.
// "#  - name: west-east" or "#    auth: pubkey".
var connKeyLine = regexp.MustCompile(`^#\s+(?:- )?([a-z_]+):`)

// TestDistConfigDocumentsEveryConnKey: the commented conn under conns: in
// dist/oemesh.yaml names every key a conn may hold (connKeys), and no
// other.
func TestDistConfigDocumentsEveryConnKey(t *testing.T) {
	f, err := os.Open(distConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var documented []string
	inConns := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "conns:"):
			inConns = true
		case inConns && !strings.HasPrefix(line, "#"):
			inConns = line == ""
		case inConns:
			if m := connKeyLine.FindStringSubmatch(line); m != nil {
				documented = append(documented, m[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(documented) == 0 {
		t.Fatalf("%s: no commented conn keys after conns:", distConfig)
	}
	for _, k := range connKeys {
		if !slices.Contains(documented, k) {
			t.Errorf("%s: the example conn under conns: lacks key %s", distConfig, k)
		}
	}
	dpdKeys := []string{"interval", "action"} // dpd's own table
	sort.Strings(documented)
	for _, k := range slices.Compact(documented) {
		if !slices.Contains(connKeys, k) && !slices.Contains(dpdKeys, k) {
			t.Errorf("%s: the example conn has key %s, which conns do not accept", distConfig, k)
		}
	}
}

// TestReadmeNamesEverySchemaKey: the README's configuration table names
// every key, written out in full (`dns.publish.ttl`), and conns.
func TestReadmeNamesEverySchemaKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, k := range schema {
		if !strings.Contains(readme, "| `"+k.name+"`") && !strings.Contains(readme, ", `"+k.name+"`") {
			t.Errorf("README.md's configuration table does not name `%s`", k.name)
		}
	}
	if !strings.Contains(readme, "| `conns` |") {
		t.Errorf("README.md's configuration table has no row for `conns`")
	}
}
