package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(Options{File: filepath.Join(t.TempDir(), "absent.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "" || c.HostKey != "/etc/oemesh/hostkey.pem" || c.Policies != "/etc/ipsec.d/policies" ||
		c.Dataplane != "auto" || c.Listen != nil || c.IKEPort != 500 || c.NATTPort != 4500 ||
		c.DNS.Servers[0] != "/etc/resolv.conf" || c.DNS.Timeout != 2*time.Second || !c.DNS.RequireDNSSEC ||
		c.OE.NullAuth != "fallback" || c.OE.NegotiationShunt != "hold" || c.OE.ShuntLifetime != 15*time.Minute ||
		c.OE.IdleTimeout != 10*time.Minute || c.ControlSocket != "/run/oemesh/oemeshd.sock" ||
		c.Log.Format != "text" || c.Log.Level.String() != "INFO" || c.Metrics.Listen != "off" || c.Kernel.FailClosed ||
		c.Kernel.GuardNegotiating || !c.Kernel.HoldFirstPackets {
		t.Errorf("defaults wrong: %+v", c)
	}
}

func TestMissingRequiredFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(Options{File: p, FileRequired: true})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
}

func TestYAMLFile(t *testing.T) {
	p := write(t, "o.yaml", `
identity: "@gw.example.org"
dataplane: userspace
listen: [192.0.2.1, "2001:db8::1"]
ike_port: 1500
dns:
  servers: ["127.0.0.1:5353", /etc/oemesh/resolv.conf]
  timeout: 500ms
  require_dnssec: false
oe:
  null_auth: only
  shunt_lifetime: 1m
  gateway_for: [198.18.1.0/24]
log:
  level: debug
  format: json
metrics:
  listen: 127.0.0.1:9542
`)
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.File != p || c.Identity != "@gw.example.org" || c.Dataplane != "userspace" || len(c.Listen) != 2 ||
		c.IKEPort != 1500 || c.DNS.Servers[0] != "127.0.0.1:5353" || c.DNS.Timeout != 500*time.Millisecond ||
		c.DNS.RequireDNSSEC || c.OE.NullAuth != "only" || c.OE.ShuntLifetime != time.Minute ||
		len(c.OE.GatewayFor) != 1 || c.OE.GatewayFor[0].String() != "198.18.1.0/24" ||
		c.Log.Level.String() != "DEBUG" || c.Log.Format != "json" || c.Metrics.Listen != "127.0.0.1:9542" {
		t.Errorf("got %+v", c)
	}
}

func TestTOMLFile(t *testing.T) {
	p := write(t, "o.toml", "dataplane = \"xfrm\"\nnatt_port = 14500\n[dns]\ntimeout = \"3s\"\n")
	c, err := Load(Options{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataplane != "xfrm" || c.NATTPort != 14500 || c.DNS.Timeout != 3*time.Second {
		t.Errorf("got %+v", c)
	}
}

func TestErrorsNameKeyAndSource(t *testing.T) {
	tests := []struct {
		name, file, body string
		env              []string
		want             []string
	}{
		{name: "unknown key", file: "a.yaml", body: "dataplan: xfrm\n",
			want: []string{`a.yaml: unknown key "dataplan" (did you mean "dataplane"?)`}},
		{name: "unknown nested key", file: "a.yaml", body: "dns:\n  timeuot: 2s\n",
			want: []string{`unknown key "dns.timeuot" (did you mean "dns.timeout"?)`}},
		{name: "wrong type duration", file: "a.yaml", body: "dns:\n  timeout: 5\n",
			want: []string{"a.yaml: key dns.timeout: want a duration with a unit, such as 2s or 15m, got the number 5"}},
		{name: "wrong type bool", file: "a.yaml", body: "dns:\n  require_dnssec: maybe\n",
			want: []string{`key dns.require_dnssec: want true or false, got "maybe"`}},
		{name: "invalid enum", file: "a.yaml", body: "dataplane: dpdk\n",
			want: []string{"key dataplane: must be one of auto, xfrm, userspace"}},
		{name: "port range", file: "a.yaml", body: "ike_port: 70000\n",
			want: []string{"key ike_port: port 70000 out of range 1-65535"}},
		{name: "bad identity", file: "a.yaml", body: "identity: not-an-address\n",
			want: []string{"key identity: must be an IP address or @fqdn"}},
		{name: "bad listen", file: "a.yaml", body: "listen: [192.0.2.300]\n",
			want: []string{`key listen: "192.0.2.300" is not an IP address`}},
		{name: "bad dns server", file: "a.yaml", body: "dns:\n  servers: [resolver.example]\n",
			want: []string{`key dns.servers: "resolver.example" is neither`}},
		{name: "list of numbers", file: "a.yaml", body: "dns:\n  servers: [1, 2]\n",
			want: []string{"key dns.servers: item 1: want a string, got the number 1"}},
		{name: "relative path", file: "a.yaml", body: "hostkey: key.pem\n",
			want: []string{"key hostkey: must be an absolute path"}},
		{name: "section as scalar", file: "a.yaml", body: "dns: 8.8.8.8\n",
			want: []string{`unknown key "dns"`}},
		{name: "negative duration", file: "a.yaml", body: "oe:\n  idle_timeout: -1s\n",
			want: []string{"key oe.idle_timeout: must be greater than zero"}},
		{name: "bad gateway_for", file: "a.yaml", body: "oe:\n  gateway_for: [198.18.1.1/24]\n",
			want: []string{`key oe.gateway_for: "198.18.1.1/24" has host bits set; did you mean 198.18.1.0/24?`}},
		{name: "relative oe.cert", file: "a.yaml", body: "oe:\n  cert: server.pem\n  cert_key: /k.pem\n",
			want: []string{"key oe.cert: must be an absolute path, or empty"}},
		{name: "oe.cert without a key", file: "a.yaml", body: "oe:\n  cert: /etc/oemesh/server.pem\n",
			want: []string{"oe.cert /etc/oemesh/server.pem is set without oe.cert_key"}},
		{name: "oe.cert_key without a cert", file: "a.yaml", body: "oe:\n  cert_key: /etc/oemesh/server.key\n",
			want: []string{"oe.cert_key /etc/oemesh/server.key is set without oe.cert"}},
		{name: "oe.cert with null_auth off", file: "a.yaml", body: "oe:\n  cert: /c.pem\n  cert_key: /k.pem\n  null_auth: \"off\"\n",
			want: []string{"oe.cert answers NULL-authenticated initiators, which oe.null_auth off refuses"}},
		{name: "bad cert_answer", file: "a.yaml", body: "oe:\n  cert: /c.pem\n  cert_key: /k.pem\n  cert_answer: sometimes\n",
			want: []string{"key oe.cert_answer: must be one of ifasked, always"}},
		{name: "cert_answer always without a cert", file: "a.yaml", body: "oe:\n  cert_answer: always\n",
			want: []string{"oe.cert_answer always answers with oe.cert, which is not set"}},
		{name: "bad pool range", file: "a.yaml", body: "oe:\n  address_pool: [100.64.0.1-100.64.0.x]\n",
			want: []string{`key oe.address_pool: "100.64.0.1-100.64.0.x": the last address "100.64.0.x" is not an IP address`}},
		{name: "bad pool prefix", file: "a.yaml", body: "oe:\n  address_pool: [100.64.0.0/33]\n",
			want: []string{`key oe.address_pool: "100.64.0.0/33" is not a CIDR prefix`}},
		{name: "bad pool entry", file: "a.yaml", body: "oe:\n  address_pool: [pool]\n",
			want: []string{`key oe.address_pool: "pool": want FIRST-LAST`}},
		{name: "bad trust_certificates", file: "a.yaml", body: "oe:\n  trust_certificates: any\n",
			want: []string{"key oe.trust_certificates"}},
		{name: "ca-file without trust_ca", file: "a.yaml", body: "oe:\n  trust_certificates: ca-file\n",
			want: []string{"oe.trust_certificates ca-file needs oe.trust_ca"}},
		{name: "trust_ca without ca-file", file: "a.yaml", body: "oe:\n  trust_certificates: webpki\n  trust_ca: /etc/oemesh/ca.pem\n",
			want: []string{"oe.trust_ca /etc/oemesh/ca.pem is set but oe.trust_certificates is webpki"}},
		{name: "trust_ca alone", file: "a.yaml", body: "oe:\n  trust_ca: /etc/oemesh/ca.pem\n",
			want: []string{"oe.trust_ca /etc/oemesh/ca.pem is set but oe.trust_certificates is off"}},
		{name: "relative trust_ca", file: "a.yaml", body: "oe:\n  trust_certificates: ca-file\n  trust_ca: ca.pem\n",
			want: []string{"key oe.trust_ca: must be an absolute path, or empty"}},
		{name: "trust with null_auth off", file: "a.yaml", body: "oe:\n  trust_certificates: webpki\n  null_auth: \"off\"\n",
			want: []string{"oe.trust_certificates webpki: a certificate OE client authenticates itself with NULL"}},
		{name: "trust with null_auth only", file: "a.yaml", body: "oe:\n  trust_certificates: webpki\n  null_auth: only\n",
			want: []string{"oe.trust_certificates webpki: with oe.null_auth only"}},
		{name: "bad log level", file: "a.yaml", body: "log:\n  level: loud\n",
			want: []string{"key log.level: must be debug, info, warn or error"}},
		{name: "bad metrics", file: "a.yaml", body: "metrics:\n  listen: everywhere\n",
			want: []string{"key metrics.listen: must be off or ADDRESS:PORT"}},
		{name: "reserved table", file: "a.yaml", body: "kernel:\n  guard_table: 254\n",
			want: []string{"key kernel.guard_table: 254 is the kernel's own table"}},
		{name: "rule after main", file: "a.yaml", body: "kernel:\n  guard_priority: 32766\n",
			want: []string{"key kernel.guard_priority: must be 1-32765"}},
		{name: "guard in the data plane's table", file: "a.yaml", body: "kernel:\n  guard_table: 4322\n",
			want: []string{"kernel.guard_table 4322 is kernel.table"}},
		{name: "guard before the data plane", file: "a.yaml", body: "kernel:\n  rule_priority: 5000\n",
			want: []string{"kernel.guard_priority 4323 must be greater than kernel.rule_priority 5000"}},
		{name: "guard_negotiating not a bool", file: "a.yaml", body: "kernel:\n  guard_negotiating: 1\n",
			want: []string{"key kernel.guard_negotiating: want true or false, got the number 1"}},
		{name: "guard_negotiating with a pass shunt", file: "a.yaml", body: "kernel:\n  guard_negotiating: true\noe:\n  negotiation_shunt: pass\n",
			want: []string{"kernel.guard_negotiating keeps a negotiating flow blocked", "set oe.negotiation_shunt to hold, or kernel.guard_negotiating to false"}},
		{name: "table not a number", file: "a.yaml", body: "kernel:\n  table: main\n",
			want: []string{`key kernel.table: want a whole number, got "main"`}},
		{name: "yaml syntax", file: "a.yaml", body: "dns: [\n", want: []string{"a.yaml"}},
		{name: "unknown extension", file: "a.conf", body: "x", want: []string{"a.conf: unknown file type \"conf\""}},
		{name: "every error reported", file: "a.yaml", body: "dataplane: x\nike_port: 0\n",
			want: []string{"key dataplane", "key ike_port"}},
		{name: "env wrong", file: "a.yaml", env: []string{"OEMESH_DNS_TIMEOUT=soon"},
			want: []string{`environment OEMESH_DNS_TIMEOUT: want a duration such as 2s or 15m, got "soon"`}},
		{name: "env unknown", file: "a.yaml", env: []string{"OEMESH_DNSSEC=1"},
			want: []string{"environment OEMESH_DNSSEC: unknown variable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.file, tc.body)
			_, err := Load(Options{File: p, FileRequired: true, Env: tc.env})
			if err == nil {
				t.Fatalf("no error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	p := write(t, "o.yaml", "dataplane: xfrm\noe:\n  null_auth: off\nlog:\n  level: warn\n")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--log-level=error", "--dns-servers=127.0.0.1:53,127.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"OEMESH_DATAPLANE=userspace", "OEMESH_LOG_LEVEL=debug", "PATH=/bin"}
	c, err := Load(Options{File: p, Env: env, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataplane != "userspace" { // env beats file
		t.Errorf("dataplane = %s", c.Dataplane)
	}
	if c.Log.Level.String() != "ERROR" { // flag beats env and file
		t.Errorf("log level = %s", c.Log.Level)
	}
	if c.OE.NullAuth != "off" { // file beats default
		t.Errorf("null_auth = %s", c.OE.NullAuth)
	}
	if len(c.DNS.Servers) != 2 || c.DNS.Servers[1] != "127.0.0.2" {
		t.Errorf("servers = %v", c.DNS.Servers)
	}
	// An unset flag does not override: its default is not a choice.
	if c.IKEPort != 500 {
		t.Errorf("ike_port = %d", c.IKEPort)
	}
}

func TestFlagErrorNamesFlag(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--oe-null-auth=sometimes"}); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Flags: fs})
	if err == nil || !strings.Contains(err.Error(), "flag --oe-null-auth: must be one of fallback, off, only") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvList(t *testing.T) {
	c, err := Load(Options{Env: []string{"OEMESH_LISTEN=192.0.2.1, 192.0.2.2", "OEMESH_DNS_REQUIRE_DNSSEC=false"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.DNS.RequireDNSSEC {
		t.Errorf("got %+v", c)
	}
}

func TestNames(t *testing.T) {
	if FlagName("dns.require_dnssec") != "dns-require-dnssec" || EnvName("oe.null_auth") != "OEMESH_OE_NULL_AUTH" {
		t.Error("names")
	}
	if len(Keys()) != len(schema) {
		t.Error("keys")
	}
}

func FuzzLoadYAML(f *testing.F) {
	for _, s := range []string{"dataplane: xfrm\n", "dns:\n  timeout: 2s\n", "listen: [1, {a: b}]\n", "oe: [\n", "ike_port: 1e9\n"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Options{File: p, FileRequired: true})
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}

// TestShippedConfigIsTheDefaults keeps dist/oemesh.yaml, the documented
// example, valid and equal to the built-in defaults.
func TestShippedConfigIsTheDefaults(t *testing.T) {
	shipped, err := Load(Options{File: "../../dist/oemesh.yaml", FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	def, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	shipped.File = ""
	if fmt.Sprintf("%+v", shipped) != fmt.Sprintf("%+v", def) {
		t.Errorf("dist/oemesh.yaml differs from the defaults:\n%+v\n%+v", shipped, def)
	}
}

// TestGuardNegotiating: kernel.guard_negotiating reaches Kernel from the
// file and from the environment, and goes with the default hold shunt.
func TestGuardNegotiating(t *testing.T) {
	p := write(t, "g.yaml", "kernel:\n  guard_negotiating: true\n")
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil || !c.Kernel.GuardNegotiating || c.OE.NegotiationShunt != "hold" {
		t.Fatalf("file: %+v, %v", c, err)
	}
	if c.Summary()["kernel.guard_negotiating"] != true {
		t.Errorf("summary: %v", c.Summary()["kernel.guard_negotiating"])
	}
	c, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_KERNEL_GUARD_NEGOTIATING=false"}})
	if err != nil || c.Kernel.GuardNegotiating {
		t.Fatalf("environment false over file true: %+v, %v", c, err)
	}
}

// TestIKEPQ: ike.pq defaults to prefer, reads from the file and the
// environment, and a bad value names the file, the key and the values.
func TestIKEPQ(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || c.IKE.PQ != "prefer" || c.Summary()["ike.pq"] != "prefer" {
		t.Fatalf("default ike.pq: %+v, %v; want prefer", c, err)
	}
	p := write(t, "o.yaml", "ike:\n  pq: require\n")
	if c, err = Load(Options{File: p, FileRequired: true}); err != nil || c.IKE.PQ != "require" {
		t.Errorf("ike.pq from the file: %+v, %v; want require", c, err)
	}
	if c, err = Load(Options{File: p, FileRequired: true, Env: []string{"OEMESH_IKE_PQ=off"}}); err != nil || c.IKE.PQ != "off" {
		t.Errorf("ike.pq from the environment: %+v, %v; want off", c, err)
	}
	bad := write(t, "b.yaml", "ike_port: 500\nike:\n  pq: on\n")
	_, err = Load(Options{File: bad, FileRequired: true})
	if err == nil || !strings.Contains(err.Error(), "config "+bad+": key ike.pq: must be one of prefer, require, off") {
		t.Errorf("ike.pq: on: %v; want the file, the key and the values", err)
	}
	if _, err = Load(Options{File: write(t, "c.yaml", "ike:\n  qp: off\n"), FileRequired: true}); err == nil || !strings.Contains(err.Error(), `unknown key "ike.qp" (did you mean "ike.pq"?)`) {
		t.Errorf("ike.qp: %v; want a suggestion", err)
	}
}

// TestDNSBindings: dns.bindings.* reach DNS.Bindings, and bounds that
// cannot hold are refused with the keys named.
func TestDNSBindings(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || c.DNS.Bindings != (DNSBindings{Max: 10000, MinTTL: 30 * time.Second, MaxTTL: time.Hour}) {
		t.Fatalf("defaults: %+v, %v", c.DNS.Bindings, err)
	}
	p := write(t, "b.yaml", "dns:\n  bindings:\n    max: 5\n    min_ttl: 1s\n    max_ttl: 2m\n")
	c, err = Load(Options{File: p, FileRequired: true})
	if err != nil || c.DNS.Bindings != (DNSBindings{Max: 5, MinTTL: time.Second, MaxTTL: 2 * time.Minute}) {
		t.Fatalf("file: %+v, %v", c.DNS.Bindings, err)
	}
	if c.Summary()["dns.bindings.max"] != 5 {
		t.Errorf("summary: %v", c.Summary()["dns.bindings.max"])
	}
	for body, want := range map[string]string{
		"dns:\n  bindings:\n    min_ttl: 2h\n": "dns.bindings.min_ttl 2h0m0s exceeds dns.bindings.max_ttl 1h0m0s",
		"dns:\n  bindings:\n    max: 0\n":      "key dns.bindings.max: must be at least 1",
		"dns:\n  bindings:\n    max_ttl: 0s\n": "key dns.bindings.max_ttl: must be greater than zero",
	} {
		_, err := Load(Options{File: write(t, "bad.yaml", body), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestDNSStub: the stub is off by default with prestart on; dns.stub.listen
// takes ADDRESS:PORT from a file, and a bad value names the key.
func TestDNSStub(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || c.DNS.StubListen.IsValid() || !c.DNS.Prestart || c.Summary()["dns.stub.listen"] != "off" {
		t.Fatalf("defaults: %+v, %v; want the stub off and prestart on", c.DNS, err)
	}
	p := write(t, "s.yaml", "dns:\n  servers: [192.0.2.53]\n  stub:\n    listen: 127.0.0.53:53\n  prestart: false\n")
	c, err = Load(Options{File: p, FileRequired: true})
	if err != nil || c.DNS.StubListen.String() != "127.0.0.53:53" || c.DNS.Prestart {
		t.Fatalf("from the file: %+v, %v", c.DNS, err)
	}
	if c.Summary()["dns.stub.listen"] != "127.0.0.53:53" {
		t.Errorf("summary: %v", c.Summary()["dns.stub.listen"])
	}
	c, err = Load(Options{Env: []string{"OEMESH_DNS_STUB_LISTEN=[::1]:5353"}})
	if err != nil || c.DNS.StubListen.String() != "[::1]:5353" {
		t.Errorf("from the environment: %+v, %v", c.DNS, err)
	}
	for _, bad := range []string{"127.0.0.53", "on", "127.0.0.53:0"} {
		_, err := Load(Options{File: write(t, "b.yaml", "dns:\n  stub:\n    listen: \""+bad+"\"\n"), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), "key dns.stub.listen:") {
			t.Errorf("dns.stub.listen %q: %v; want an error naming the key", bad, err)
		}
	}
}

func TestCertificateOEKeys(t *testing.T) {
	p := write(t, "o.yaml", "oe:\n  cert: /etc/oemesh/server.pem\n  cert_key: /etc/oemesh/server.key\n"+
		"  address_pool: [100.64.0.1-100.64.0.254, \"fd00:64::/112\", 100.65.0.7]\n")
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.OE.Cert != "/etc/oemesh/server.pem" || c.OE.CertKey != "/etc/oemesh/server.key" ||
		!slices.Equal(c.OE.AddressPool, []string{"100.64.0.1-100.64.0.254", "fd00:64::/112", "100.65.0.7"}) {
		t.Errorf("got %+v", c.OE)
	}
	d, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.OE.Cert != "" || d.OE.CertKey != "" || len(d.OE.AddressPool) != 0 {
		t.Errorf("defaults: %+v; want no certificate and no pool", d.OE)
	}
}

// TestCertAnswer: oe.cert_answer reaches OE; the default is ifasked.
func TestCertAnswer(t *testing.T) {
	p := write(t, "o.yaml", "oe:\n  cert: /etc/oemesh/server.pem\n  cert_key: /etc/oemesh/server.key\n  cert_answer: always\n")
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.OE.CertAnswer != "always" {
		t.Errorf("got %q, want always", c.OE.CertAnswer)
	}
	d, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.OE.CertAnswer != "ifasked" {
		t.Errorf("default %q, want ifasked", d.OE.CertAnswer)
	}
}

// TestTrustCertificates: oe.trust_certificates and oe.trust_ca reach OE;
// the default is off.
func TestTrustCertificates(t *testing.T) {
	p := write(t, "o.yaml", "oe:\n  trust_certificates: ca-file\n  trust_ca: /etc/oemesh/oe-ca.pem\n")
	c, err := Load(Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.OE.TrustCertificates != "ca-file" || c.OE.TrustCA != "/etc/oemesh/oe-ca.pem" {
		t.Errorf("got %+v", c.OE)
	}
	p = write(t, "w.yaml", "oe:\n  trust_certificates: webpki\n")
	if c, err = Load(Options{File: p, FileRequired: true}); err != nil || c.OE.TrustCertificates != "webpki" {
		t.Errorf("webpki: %v, %+v", err, c.OE)
	}
	d, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.OE.TrustCertificates != "off" || d.OE.TrustCA != "" {
		t.Errorf("defaults: %+v; want trust_certificates off", d.OE)
	}
}

// TestDNSStubEarlyLookupAndHold: the early look-up is on and the hold off
// by default; a hold is read from the file, and refused when negative,
// beyond its bound, or without dns.prestart.
func TestDNSStubEarlyLookupAndHold(t *testing.T) {
	c, err := Load(Options{})
	if err != nil || !c.DNS.StubEarlyLookup || c.DNS.StubHold != 0 || c.Summary()["dns.stub.hold"] != "0s" {
		t.Fatalf("defaults: %+v, %v; want early look-ups on and no hold", c.DNS, err)
	}
	p := write(t, "h.yaml", "dns:\n  stub:\n    listen: 127.0.0.53:53\n    early_lookup: false\n    hold: 40ms\n")
	c, err = Load(Options{File: p, FileRequired: true})
	if err != nil || c.DNS.StubEarlyLookup || c.DNS.StubHold != 40*time.Millisecond {
		t.Fatalf("from the file: %+v, %v", c.DNS, err)
	}
	for body, want := range map[string]string{
		"dns:\n  stub:\n    hold: -1s\n":                   "key dns.stub.hold: must not be negative",
		"dns:\n  stub:\n    hold: 10s\n":                   "at most 5s",
		"dns:\n  stub:\n    hold: 1s\n  prestart: false\n": "dns.stub.hold 1s needs dns.prestart: true",
	} {
		_, err := Load(Options{File: write(t, "bad.yaml", body), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
