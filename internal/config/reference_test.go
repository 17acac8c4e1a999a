package config

import (
	"testing"
	"time"
)

func TestReference(t *testing.T) {
	ref := Reference()
	if len(ref) != len(schema) {
		t.Fatalf("Reference has %d keys, the schema %d", len(ref), len(schema))
	}
	byName := map[string]KeyDoc{}
	for _, k := range ref {
		if k.Type == "" || k.Help == "" || k.Default == "" {
			t.Errorf("%s: a field is empty: %+v", k.Name, k)
		}
		byName[k.Name] = k
	}
	for _, want := range []KeyDoc{
		{Name: "dns.timeout", Type: "duration", Default: "2s", Flag: "--dns-timeout", Env: "OEMESH_DNS_TIMEOUT"},
		{Name: "oe.ike_lifetime", Type: "duration", Default: "4h", Flag: "--oe-ike-lifetime", Env: "OEMESH_OE_IKE_LIFETIME"},
		{Name: "dns.require_dnssec", Type: "boolean", Default: "true", Flag: "--dns-require-dnssec", Env: "OEMESH_DNS_REQUIRE_DNSSEC"},
		{Name: "identity", Type: "string", Default: `""`, Flag: "--identity", Env: "OEMESH_IDENTITY"},
		{Name: "listen", Type: "list of strings", Default: "[all]", Flag: "--listen", Env: "OEMESH_LISTEN"},
		{Name: "ike_port", Type: "port", Default: "500", Flag: "--ike-port", Env: "OEMESH_IKE_PORT"},
		{Name: "metrics.listen", Type: "string", Default: `"off"`, Flag: "--metrics-listen", Env: "OEMESH_METRICS_LISTEN"},
	} {
		got := byName[want.Name]
		got.Help = ""
		if got != want {
			t.Errorf("Reference()[%s] = %+v, want %+v", want.Name, got, want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Second:                  "2s",
		15 * time.Minute:                 "15m",
		time.Hour:                        "1h",
		90 * time.Minute:                 "1h30m",
		time.Hour + 30*time.Second:       "1h0m30s",
		1500 * time.Millisecond:          "1.5s",
		4*time.Hour + 10*time.Minute + 1: "4h10m0.000000001s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
