package config

import (
	"fmt"
	"strings"
	"time"
)

// KeyDoc describes one configuration key for the reference documentation
// (the oemesh.yaml(5) man page), in the words the schema holds.
type KeyDoc struct {
	Name    string // "dns.timeout"
	Type    string // "duration", "boolean", "string", "port", "integer" or "list of strings"
	Default string // as written in YAML: 2s, true, "", [all]
	Help    string
	Flag    string // oemeshd's flag: "--dns-timeout"
	Env     string // the environment variable: "OEMESH_DNS_TIMEOUT"
}

// Reference lists every key oemeshd accepts, in the schema's order (the
// order of the shipped oemesh.yaml).
func Reference() []KeyDoc {
	out := make([]KeyDoc, 0, len(schema))
	for _, k := range schema {
		out = append(out, KeyDoc{
			Name:    k.name,
			Type:    kindNames[k.kind],
			Default: yamlValue(k.def),
			Help:    k.help,
			Flag:    "--" + FlagName(k.name),
			Env:     EnvName(k.name),
		})
	}
	return out
}

var kindNames = map[kind]string{
	kindString:     "string",
	kindBool:       "boolean",
	kindDuration:   "duration",
	kindPort:       "port",
	kindStringList: "list of strings",
	kindUint:       "integer",
}

// yamlValue writes a default as one would in oemesh.yaml.
func yamlValue(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" || v == "off" {
			return fmt.Sprintf("%q", v)
		}
		return v
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case time.Duration:
		return shortDuration(v)
	}
	return fmt.Sprint(v)
}

// shortDuration drops the zero units time.Duration.String writes: 15m, not
// 15m0s; 4h, not 4h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
