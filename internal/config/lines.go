package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyLines maps each key of a YAML configuration file, dotted and in lower
// case as viper names it ("dns.timeout"), to its line, so that an error in
// the file can say FILE:LINE, as the policy files' errors do. It is
// best-effort: a TOML file, or one that does not parse, gives none.
func keyLines(file, ext string) map[string]int {
	if ext != "yaml" && ext != "yml" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	lines := map[string]int{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := prefix + strings.ToLower(k.Value)
			lines[name] = k.Line
			walk(v, name+".")
		}
	}
	walk(doc.Content[0], "")
	return lines
}

// at is " (FILE:LINE)" for key, or "" when its line is not known.
func at(file string, lines map[string]int, key string) string {
	if n, ok := lines[key]; ok {
		return fmt.Sprintf(" (%s:%d)", file, n)
	}
	return ""
}
