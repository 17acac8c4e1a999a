package ipsecconf

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/config"
)

func rsaSigKey(t *testing.T) (*rsa.PublicKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dnskey.MarshalRSAKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey, "0s" + base64.StdEncoding.EncodeToString(b)
}

// convert parses and converts conf, then checks that oemeshd accepts the
// YAML it printed.
func convert(t *testing.T, conf string, opts Options) (Result, []config.Conn) {
	t.Helper()
	f, err := Parse(strings.NewReader(conf), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "oemesh.yaml")
	if err := os.WriteFile(p, []byte(res.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, err := config.LoadConns(p)
	if err != nil {
		t.Fatalf("oemeshd refuses the imported config: %v\n%s", err, res.YAML())
	}
	return res, cs
}

func TestImportNetToNet(t *testing.T) {
	pub, key := rsaSigKey(t)
	leftPub, leftKey := rsaSigKey(t)
	// The FreeS/WAN FAQ's net-to-net: two security gateways, each with a
	// subnet behind it, RSA keys given inline.
	conf := `# /etc/ipsec.conf
version 2.0

config setup
	interfaces=%defaultroute
	uniqueids=yes

conn %default
	keyingtries=0
	authby=rsasig
	keylife=8h

conn net-to-net
	left=192.0.2.1
	leftsubnet=10.1.0.0/16
	leftid=@xy.example.com
	leftrsasigkey=` + leftKey + `
	leftnexthop=192.0.2.254
	right=198.51.100.1
	rightsubnet=10.2.0.0/16
	rightid=@ab.example.com
	rightrsasigkey=` + key + `
	ikelifetime=1h
	auto=start
`
	kd := t.TempDir()
	res, cs := convert(t, conf, Options{KeyDir: kd})
	if len(cs) != 1 {
		t.Fatalf("conns: %+v", cs)
	}
	c := cs[0]
	if c.Name != "net-to-net" || c.Local != "192.0.2.1" || c.Remote != "198.51.100.1" ||
		c.LocalSubnets[0].String() != "10.1.0.0/16" || c.RemoteSubnets[0].String() != "10.2.0.0/16" ||
		c.LocalID != "@xy.example.com" || c.RemoteID != "@ab.example.com" || c.Auth != "pubkey" ||
		c.KeyingTries != 0 || c.Lifetime.String() != "8h0m0s" || c.IKELifetime.String() != "1h0m0s" ||
		c.Auto != "start" || !c.UniqueIDs {
		t.Errorf("converted wrong: %+v\n%s", c, res.YAML())
	}
	pemBytes := res.Keys[c.RemoteKey]
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatalf("no PEM key for %s: %v", c.RemoteKey, res.Keys)
	}
	got, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil || !got.(*rsa.PublicKey).Equal(pub) {
		t.Errorf("remote key does not round-trip: %v", err)
	}
	// Unsupported keys are listed with their lines.
	y := res.YAML()
	for _, w := range []string{"ipsec.conf:5: config setup interfaces", "ipsec.conf:18: conn net-to-net: leftnexthop=192.0.2.254"} {
		if !strings.Contains(y, w) {
			t.Errorf("output does not list %q:\n%s", w, y)
		}
	}
	if !strings.Contains(y, "our own leftrsasigkey is not imported") {
		t.Errorf("the local key is dropped without a note:\n%s", y)
	}
	// Seen from the right gateway.
	res, cs = convert(t, conf, Options{KeyDir: kd, Local: "right"})
	blk, _ = pem.Decode(res.Keys[cs[0].RemoteKey])
	if got, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil || !got.(*rsa.PublicKey).Equal(leftPub) {
		t.Errorf("left key does not round-trip: %v", err)
	}
	if cs[0].Local != "198.51.100.1" || cs[0].Remote != "192.0.2.1" || cs[0].RemoteSubnets[0].String() != "10.1.0.0/16" ||
		cs[0].RemoteID != "@xy.example.com" {
		t.Errorf("right side converted wrong: %+v", cs[0])
	}
}

func TestImportRoadWarrior(t *testing.T) {
	// The FAQ's road warrior: the gateway accepts %any with each warrior's
	// own key; also= shares the gateway's half.
	_, k1 := rsaSigKey(t)
	conf := `conn gw
	left=192.0.2.1
	leftsubnet=10.1.0.0/16
	leftid=@gw.example.com
	authby=rsasig

conn rw-alice
	also=gw
	right=%any
	rightid=@alice.example.com
	rightrsasigkey=` + k1 + `
	auto=add

conn rw-bob
	also=gw
	right=%any
	rightid=@bob.example.com
	rightrsasigkey=%dns
	auto=add
	dpddelay=30
	dpdaction=clear
`
	res, cs := convert(t, conf, Options{KeyDir: "/etc/oemesh/keys"})
	if len(cs) != 2 {
		t.Fatalf("want rw-alice, rw-bob, got %d", len(cs))
	}
	a, b := cs[0], cs[1]
	if !strings.Contains(res.YAML(), "ipsec.conf:1: conn gw: not a conn of its own") {
		t.Errorf("the also= fragment is not reported:\n%s", res.YAML())
	}
	if a.Remote != "%any" || a.RemoteID != "@alice.example.com" || a.Local != "192.0.2.1" ||
		a.LocalSubnets[0].String() != "10.1.0.0/16" || a.LocalID != "@gw.example.com" || a.Auto != "add" ||
		a.RemoteKey != "/etc/oemesh/keys/rw-alice-right.pem" {
		t.Errorf("alice: %+v", a)
	}
	if b.RemoteKey != "dns" || b.RemoteID != "@bob.example.com" || b.DPD.Interval.Seconds() != 30 || b.DPD.Action != "clear" {
		t.Errorf("bob: %+v", b)
	}
	if _, ok := res.Keys["/etc/oemesh/keys/rw-alice-right.pem"]; !ok {
		t.Errorf("alice's key is not written: %v", res.Keys)
	}
}

func TestImportDefaultAndAlsoPrecedence(t *testing.T) {
	conf := `conn %default
	keyingtries=%forever
	keylife=20m
	ikelifetime=3h
	auto=route

conn common
	left=192.0.2.1
	right=198.51.100.1
	keylife=30m

conn a
	also=common
	rightsubnet=10.2.0.0/16
	keylife=40m

conn b
	also=common
	rightsubnet=10.3.0.0/16
	auto=start

conn c
	also=common
	rightsubnet=10.4.0.0/16
	type=passthrough
`
	res, cs := convert(t, strings.Replace(conf, "conn %default\n", "config setup\n\thidetos=no\n\nconn %default\n", 1), Options{})
	if !strings.Contains(res.YAML(), "ipsec.conf:2: config setup hidetos=no: oemesh's data planes send ESP with DSCP 0") {
		t.Errorf("hidetos=no not reported:\n%s", res.YAML())
	}
	for _, c := range cs {
		if c.CopyDSCP {
			t.Errorf("conn %s: copy_dscp set from hidetos=no, which oemeshd refuses", c.Name)
		}
	}
	res, cs = convert(t, conf, Options{})
	byName := map[string]config.Conn{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	// The conn's own setting beats also=, which beats %default.
	if byName["a"].Lifetime.Minutes() != 40 || byName["b"].Lifetime.Minutes() != 30 {
		t.Errorf("keylife precedence wrong: a=%v b=%v", byName["a"].Lifetime, byName["b"].Lifetime)
	}
	if byName["a"].Auto != "route" || byName["b"].Auto != "start" || byName["a"].KeyingTries != 0 ||
		byName["a"].IKELifetime.Hours() != 3 {
		t.Errorf("%%default not applied: %+v", byName["a"])
	}
	if _, ok := byName["c"]; ok {
		t.Error("a passthrough conn was imported as a tunnel")
	}
	if !strings.Contains(res.YAML(), "ipsec.conf:25: conn c: type=passthrough") {
		t.Errorf("passthrough not reported with its line:\n%s", res.YAML())
	}
}

func TestImportPSK(t *testing.T) {
	dir := t.TempDir()
	sp := filepath.Join(dir, "ipsec.secrets")
	os.WriteFile(sp, []byte("# secrets\n192.0.2.1 198.51.100.1 : PSK \"a long shared secret\"\n: RSA {\n  Modulus: 0x00\n}\n"), 0o600)
	sec, err := LoadSecrets(sp)
	if err != nil {
		t.Fatal(err)
	}
	conf := "conn psk\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tauthby=secret\n\tauto=start\n"
	res, cs := convert(t, conf, Options{Secrets: sec})
	if cs[0].Auth != "psk" || cs[0].PSK != sp {
		t.Errorf("psk conn: %+v", cs[0])
	}
	if y := res.YAML(); strings.Contains(y, "a long shared secret") || !strings.Contains(y, "PSK found in "+sp+" at line 2") {
		t.Errorf("output leaks the key or does not find it:\n%s", y)
	}
}

func TestImportErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\talso=b\n", "ipsec.conf:4: conn a: also=b names no conn"},
		{"conn a\n\talso=b\n\tleft=192.0.2.1\nconn b\n\talso=a\n\tright=198.51.100.1\n", "makes a loop"},
		{"conn a\n\tleft=192.0.2.1\n", "conn a: no right="},
		{"conn a\n\tleft=%any\n\tright=198.51.100.1\n", "ipsec.conf:2: conn a: left: our own side cannot be %any"},
		{"conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tleftsubnet=10.1.0.1/16\n", "ipsec.conf:4: conn a: leftsubnet: subnet \"10.1.0.1/16\" has host bits set"},
		{"conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tkeylife=forever\n", "ipsec.conf:4: conn a: keylife: want a duration"},
		{"conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\tauthby=magic\n", "ipsec.conf:4: conn a: authby: unknown authentication"},
		{"conn a\n\tleft=192.0.2.1\n\tright=198.51.100.1\n\trightrsasigkey=0sAAAA\n", "ipsec.conf:4: conn a: rightrsasigkey: RFC 3110"},
	} {
		f, err := Parse(strings.NewReader(tc.conf), "ipsec.conf")
		if err == nil {
			_, err = Convert(f, Options{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.conf, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"left=1\n", "ipsec.conf:1: \"left=1\" at the start of a line"},
		{"\tleft=1\n", "ipsec.conf:1: indented setting outside any section"},
		{"conn a\n\tleft\n", "ipsec.conf:2: want key=value"},
		{"conn a b\n", "ipsec.conf:1: \"conn\" needs exactly one name"},
		{"conn a\nconn a\n", "ipsec.conf:2: conn a is defined twice (first at line 1)"},
		{"conn a\n\tleftid=\"@x\n", "ipsec.conf:2: leftid: unterminated"},
		{"config other\n", "unknown section"},
	} {
		_, err := Parse(strings.NewReader(tc.conf), "ipsec.conf")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.conf, err, tc.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	s, err := ParseSecrets(strings.NewReader(`
@a.example @gw.example : PSK "both"
@b.example : PSK 0x616263
: PSK 0sZGVmYXVsdA==
2001:db8::1 : PSK "v6"
@c.example : RSA {
	Modulus: 0x00
	}
`), "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ local, remote, want string }{
		{"@gw.example", "@a.example", "both"},
		{"@gw.example", "@b.example", "abc"},
		{"@gw.example", "@z.example", "default"},
		{"192.0.2.1", "2001:db8::1", "v6"},
	} {
		k, _, ok := s.PSK(tc.local, tc.remote)
		if !ok || string(k) != tc.want {
			t.Errorf("PSK(%s, %s) = %q %v, want %q", tc.local, tc.remote, k, ok, tc.want)
		}
	}
	for _, bad := range []string{": PSK secret\n", ": PSK \"\"\n", ": PSK 0xzz\n", "nokind\n"} {
		if _, err := ParseSecrets(strings.NewReader(bad), "s"); err == nil || !strings.Contains(err.Error(), "s:1:") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestLoadSecretsMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(p, []byte(": PSK \"x\"\n"), 0o644)
	os.Chmod(p, 0o644)
	_, err := LoadSecrets(p)
	if err == nil || !strings.Contains(err.Error(), p+" has mode 0644") {
		t.Fatalf("a world-readable secrets file was accepted: %v", err)
	}
	os.Chmod(p, 0o600)
	if _, err := LoadSecrets(p); err != nil {
		t.Fatal(err)
	}
}
