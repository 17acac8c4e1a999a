package peers

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:generate go tool stringer -type=StrongSwanDataplane -linecomment

// StrongSwanDataplane selects charon's kernel interface.
type StrongSwanDataplane int

const (
	// Libipsec (the default) is kernel-libipsec: ESP in userspace over a TUN device, so
	// CHILD SAs really install and carry traffic on a kernel without ESP. charon then always
	// UDP-encapsulates ESP (it fakes NAT detection to force it) and supports tunnel mode only:
	// a transport-mode CHILD SA fails to install ("IPsec SA: unsupported mode"). Trap policies
	// (start_action=trap) need kernel ACQUIREs and do not work with it.
	Libipsec StrongSwanDataplane = iota // kernel-libipsec
	// Netlink is kernel-netlink: real XFRM. Policies, traps and ACQUIREs work; on a kernel
	// without ESP every SA add fails with ENOSYS, so CHILD SAs never install (a responder
	// answers NO_PROPOSAL_CHOSEN, an initiator keeps the IKE SA and deletes the CHILD).
	Netlink // kernel-netlink
)

// Auth methods for StrongSwanAuth.Method (swanctl.conf's local/remote auth). strongSwan
// 5.9.8 has no NULL authentication (RFC 7619): swanctl rejects auth = null ("invalid value
// for: auth"), so NULL-auth interop is Libreswan's job.
const (
	AuthPSK    = "psk"
	AuthPubkey = "pubkey"
)

// StrongSwanConfig is one charon instance's configuration: strongswan.conf settings and the
// connections of swanctl.conf.
type StrongSwanConfig struct {
	// Version is the strongSwan build to run (zero: Debian 12's 5.9.8).
	Version   StrongSwanVersion
	Dataplane StrongSwanDataplane
	Conns     []StrongSwanConn
	// Port and NATTPort are charon.port and charon.port_nat_t (0: 500 and 4500).
	Port, NATTPort int
	// LogLevel is the filelog level of the ike, cfg, chd, knl, esp and net groups
	// (0: 2, which logs each exchange and SA state change; 4 also logs keys and raw packets).
	LogLevel int
	// Charon holds extra "key = value" lines for the charon section of strongswan.conf,
	// e.g. "retransmit_tries = 2", "cookie_threshold = 0".
	Charon []string
	// Pools are swanctl.conf's address pools (pools.<Name>), which a conn
	// serves mode config from with "pools = <Name>" in its Extra.
	Pools []StrongSwanPool
}

// StrongSwanPool is one in-memory address pool of swanctl.conf.
type StrongSwanPool struct {
	Name  string
	Addrs string // a prefix ("100.64.0.0/24") or a range ("100.64.0.1-100.64.0.9")
}

// StrongSwanConn is one IKE connection of swanctl.conf (connections.<Name>).
type StrongSwanConn struct {
	Name        string
	LocalAddrs  []string // local_addrs; empty: %any
	RemoteAddrs []string // remote_addrs; empty: %any (a responder for anyone)
	LocalPort   int      // local_port (0: charon's port)
	RemotePort  int      // remote_port (0: 500)
	// Proposals in strongSwan syntax, e.g. "aes128gcm16-prfsha256-x25519"; empty: "default".
	// Additional key exchanges (RFC 9370, "...-x25519-ke1_mlkem768") need Version StrongSwan6.
	Proposals []string
	// Fragmentation: "yes" (strongSwan's default), "accept", "force" or "no"; "" leaves the default.
	Fragmentation string
	// NoMobike sets mobike = no: charon then stays on port 500 unless NAT is found, and never
	// roams. With MOBIKE on (the default), address events in a dual-stack namespace can make
	// charon move an IPv6 IKE SA to IPv4 addresses.
	NoMobike bool
	Encap    bool // encap = yes: force UDP encapsulation of ESP
	// RekeyTime of the IKE SA (0: strongSwan's default of 4 h); ReauthTime likewise.
	RekeyTime, ReauthTime time.Duration
	DPDDelay              time.Duration
	KeyingTries           int // keyingtries (0: strongSwan's default 1)
	Local, Remote         StrongSwanAuth
	// PSK is the pre-shared key, used when either side's Method is AuthPSK. It is written to
	// the secrets section bound to both IDs.
	PSK      string
	Children []StrongSwanChild
	// SendCert is send_cert: "ifasked" (strongSwan's default: only after a CERTREQ),
	// "always" or "never"; "" leaves the default.
	SendCert string
	// Extra holds further "key = value" lines for the connection section.
	Extra []string
}

// StrongSwanAuth is a connection's local or remote auth round.
type StrongSwanAuth struct {
	Method string // AuthPSK or AuthPubkey
	ID     string // IKE identity; "" lets strongSwan use the address (remote: %any)
	// Key is the local private key (Method AuthPubkey, Local only): Ed25519, ECDSA or RSA.
	// It is written as PKCS#8 and its public half as the raw key charon authenticates with.
	Key crypto.Signer
	// PublicKey is the peer's raw public key (Method AuthPubkey, Remote only).
	PublicKey crypto.PublicKey
	// Certs (Local only) makes AuthPubkey authenticate with an X.509 certificate: DER, the
	// end entity (whose key is Key) first, written to x509/ and named in certs =, then the
	// intermediates, written to x509ca/ so that charon can send them (which also makes charon
	// trust them).
	Certs [][]byte
	// CACerts (Remote only) are the CA certificates (DER) the peer's certificate must chain to,
	// written to x509ca/; with them a remote AuthPubkey needs no PublicKey.
	CACerts [][]byte
}

// StrongSwanChild is one CHILD SA config (children.<Name>).
type StrongSwanChild struct {
	Name string
	Mode string // "tunnel" (default) or "transport"
	// LocalTS and RemoteTS default to "dynamic" (the IKE addresses).
	LocalTS, RemoteTS []string
	// ESPProposals in strongSwan syntax, e.g. "aes128gcm16"; empty: "default".
	ESPProposals []string
	// StartAction: "none" (default), "trap" or "start".
	StartAction string
	RekeyTime   time.Duration
	Extra       []string
}

// swanctl.conf and strongswan.conf rendering -------------------------------------------------

// confWriter writes strongSwan's settings syntax with indentation.
type confWriter struct {
	b     strings.Builder
	depth int
}

func (w *confWriter) open(name string) {
	w.line(name + " {")
	w.depth++
}

func (w *confWriter) close() {
	w.depth--
	w.line("}")
}

func (w *confWriter) line(s string) {
	w.b.WriteString(strings.Repeat("  ", w.depth))
	w.b.WriteString(s)
	w.b.WriteString("\n")
}

func (w *confWriter) kv(k, v string) {
	if v != "" {
		w.line(k + " = " + v)
	}
}

// quoteSetting quotes a value for strongSwan's settings parser when it holds characters the
// parser would take as syntax.
func quoteSetting(v string) string {
	if v == "" {
		return `""`
	}
	if strings.ContainsAny(v, " \t\"\\{}=#,\n'") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
	}
	return v
}

func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
}

func itoaNonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

var validName = func(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (c *StrongSwanConfig) validate() error {
	seen := map[string]bool{}
	for i, conn := range c.Conns {
		if !validName(conn.Name) {
			return fmt.Errorf("strongswan config: conns[%d]: name %q must be letters, digits, - or _", i, conn.Name)
		}
		if seen[conn.Name] {
			return fmt.Errorf("strongswan config: conn %q defined twice", conn.Name)
		}
		seen[conn.Name] = true
		for side, a := range map[string]StrongSwanAuth{"local": conn.Local, "remote": conn.Remote} {
			switch a.Method {
			case AuthPSK:
				if conn.PSK == "" {
					return fmt.Errorf("strongswan config: conn %q: %s auth psk needs PSK", conn.Name, side)
				}
			case AuthPubkey:
				if side == "local" && a.Key == nil {
					return fmt.Errorf("strongswan config: conn %q: local auth pubkey needs Key", conn.Name)
				}
				if side == "remote" && a.PublicKey == nil && len(a.CACerts) == 0 {
					return fmt.Errorf("strongswan config: conn %q: remote auth pubkey needs PublicKey or CACerts", conn.Name)
				}
			default:
				return fmt.Errorf("strongswan config: conn %q: %s auth method %q (want psk or pubkey; strongSwan 5.9.8 has no NULL auth)", conn.Name, side, a.Method)
			}
		}
		for j, ch := range conn.Children {
			if !validName(ch.Name) {
				return fmt.Errorf("strongswan config: conn %q: children[%d]: name %q must be letters, digits, - or _", conn.Name, j, ch.Name)
			}
			if ch.Mode != "" && ch.Mode != "tunnel" && ch.Mode != "transport" {
				return fmt.Errorf("strongswan config: child %q: mode %q (want tunnel or transport)", ch.Name, ch.Mode)
			}
			if ch.StartAction != "" && ch.StartAction != "none" && ch.StartAction != "trap" && ch.StartAction != "start" {
				return fmt.Errorf("strongswan config: child %q: start_action %q (want none, trap or start)", ch.Name, ch.StartAction)
			}
		}
		if c.Version != StrongSwan6 {
			props := append([]string(nil), conn.Proposals...)
			for _, ch := range conn.Children {
				props = append(props, ch.ESPProposals...)
			}
			for _, p := range props {
				if additionalKE.MatchString(p) {
					return fmt.Errorf("strongswan config: conn %q: proposal %q has an additional key exchange (RFC 9370), which %v does not parse; use Version StrongSwan6", conn.Name, p, c.Version)
				}
			}
		}
		if len(conn.Remote.Certs) > 0 || len(conn.Local.CACerts) > 0 {
			return fmt.Errorf("strongswan config: conn %q: Certs are local, CACerts remote", conn.Name)
		}
		switch conn.SendCert {
		case "", "ifasked", "always", "never":
		default:
			return fmt.Errorf("strongswan config: conn %q: send_cert %q (want ifasked, always or never)", conn.Name, conn.SendCert)
		}
		switch conn.Fragmentation {
		case "", "yes", "accept", "force", "no":
		default:
			return fmt.Errorf("strongswan config: conn %q: fragmentation %q (want yes, accept, force or no)", conn.Name, conn.Fragmentation)
		}
	}
	return nil
}

// strongswanConf renders strongswan.conf for an instance whose files live in dir.
func (c *StrongSwanConfig) strongswanConf(dir string) string {
	level := c.LogLevel
	if level == 0 {
		level = 2
	}
	kernel := "kernel-netlink"
	if c.Dataplane == Libipsec {
		// kernel-libipsec first: its kernel-ipsec interface wins; kernel-netlink still
		// provides the kernel-net part (addresses, routes).
		kernel = "kernel-libipsec kernel-netlink"
	}
	var w confWriter
	w.line("# generated by internal/peers (" + c.Version.String() + ", " + c.Dataplane.String() + ")")
	w.open("charon")
	w.kv("load", "random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 aes sha1 sha2 hmac gcm chapoly kdf "+kernel+" socket-default vici")
	w.kv("port", itoaNonZero(c.Port))
	w.kv("port_nat_t", itoaNonZero(c.NATTPort))
	w.kv("install_routes", "no")
	w.kv("install_virtual_ip", "no")
	// no DNS, no syslog, no cache of anything outside dir
	w.kv("retransmit_tries", "3")
	for _, l := range c.Charon {
		w.line(l)
	}
	w.open("plugins")
	w.open("vici")
	w.kv("socket", "unix://"+filepath.Join(dir, "charon.vici"))
	w.close()
	if c.Dataplane == Libipsec {
		w.open("kernel-libipsec")
		// host-to-host: the remote TS is the IKE peer itself (the harness keeps IKE and
		// ESP-in-UDP out of the TUN route with ip rules)
		w.kv("allow_peer_ts", "yes")
		w.close()
	}
	w.close()
	w.open("filelog")
	w.open("main")
	w.kv("path", filepath.Join(dir, "charon.log"))
	w.kv("time_format", "%H:%M:%S")
	w.kv("time_add_ms", "yes")
	w.kv("ike_name", "yes")
	w.kv("append", "no")
	w.kv("flush_line", "yes")
	w.kv("default", "1")
	for _, g := range []string{"ike", "cfg", "chd", "knl", "esp"} {
		w.kv(g, strconv.Itoa(level))
	}
	// enc and net at 2 log every payload added and every packet; keep them one lower
	for _, g := range []string{"enc", "net"} {
		w.kv(g, strconv.Itoa(max(1, level-1)))
	}
	w.close()
	w.close()
	w.open("syslog")
	w.open("daemon")
	w.kv("default", "-1")
	w.close()
	w.close()
	w.close()
	w.open("charon-systemd")
	w.open("journal")
	w.kv("default", "-1")
	w.close()
	w.close()
	w.open("swanctl")
	w.kv("load", "pem pkcs1 pkcs8 x509 pubkey openssl curve25519 random revocation constraints")
	w.kv("socket", "unix://"+filepath.Join(dir, "charon.vici"))
	w.close()
	return w.b.String()
}

// keyFiles are the files a conn's raw keys are written to, relative to the swanctl dir.
func localKeyFile(conn string) string  { return filepath.Join("private", conn+"-local.key") }
func localPubFile(conn string) string  { return filepath.Join("pubkey", conn+"-local.pub") }
func remotePubFile(conn string) string { return filepath.Join("pubkey", conn+"-remote.pub") }

// Certificate files: the local end entity in x509/, the local intermediates and the remote
// CAs in x509ca/.
func localCertFile(conn string) string { return filepath.Join("x509", conn+"-local.pem") }
func caCertFile(conn, side string, i int) string {
	return filepath.Join("x509ca", conn+"-"+side+"-ca"+strconv.Itoa(i)+".pem")
}

// swanctlConf renders swanctl.conf.
func (c *StrongSwanConfig) swanctlConf() string {
	var w confWriter
	w.line("# generated by internal/peers")
	w.open("connections")
	for _, conn := range c.Conns {
		w.open(conn.Name)
		w.kv("version", "2")
		w.kv("local_addrs", strings.Join(conn.LocalAddrs, ","))
		w.kv("remote_addrs", strings.Join(conn.RemoteAddrs, ","))
		w.kv("local_port", itoaNonZero(conn.LocalPort))
		w.kv("remote_port", itoaNonZero(conn.RemotePort))
		if len(conn.Proposals) > 0 {
			w.kv("proposals", strings.Join(conn.Proposals, ","))
		}
		w.kv("fragmentation", conn.Fragmentation)
		if conn.NoMobike {
			w.kv("mobike", "no")
		}
		if conn.Encap {
			w.kv("encap", "yes")
		}
		w.kv("rekey_time", seconds(conn.RekeyTime))
		w.kv("reauth_time", seconds(conn.ReauthTime))
		w.kv("dpd_delay", seconds(conn.DPDDelay))
		w.kv("keyingtries", itoaNonZero(conn.KeyingTries))
		w.kv("send_cert", conn.SendCert)
		for _, l := range conn.Extra {
			w.line(l)
		}
		for _, side := range []struct {
			name string
			a    StrongSwanAuth
		}{{"local", conn.Local}, {"remote", conn.Remote}} {
			w.open(side.name)
			w.kv("auth", side.a.Method)
			if side.a.ID != "" {
				w.kv("id", quoteSetting(side.a.ID))
			}
			switch {
			case side.a.Method != AuthPubkey:
			case side.name == "local" && len(side.a.Certs) > 0:
				w.kv("certs", filepath.Base(localCertFile(conn.Name)))
			case side.name == "local":
				w.kv("pubkeys", filepath.Base(localPubFile(conn.Name)))
			case side.a.PublicKey != nil:
				w.kv("pubkeys", filepath.Base(remotePubFile(conn.Name)))
			}
			w.close()
		}
		if len(conn.Children) > 0 {
			w.open("children")
			for _, ch := range conn.Children {
				w.open(ch.Name)
				mode := ch.Mode
				if mode == "" {
					mode = "tunnel"
				}
				w.kv("mode", mode)
				lts, rts := "dynamic", "dynamic"
				if len(ch.LocalTS) > 0 {
					lts = strings.Join(ch.LocalTS, ",")
				}
				if len(ch.RemoteTS) > 0 {
					rts = strings.Join(ch.RemoteTS, ",")
				}
				w.kv("local_ts", lts)
				w.kv("remote_ts", rts)
				if len(ch.ESPProposals) > 0 {
					w.kv("esp_proposals", strings.Join(ch.ESPProposals, ","))
				}
				w.kv("start_action", ch.StartAction)
				w.kv("rekey_time", seconds(ch.RekeyTime))
				for _, l := range ch.Extra {
					w.line(l)
				}
				w.close()
			}
			w.close()
		}
		w.close()
	}
	w.close()
	if len(c.Pools) > 0 {
		w.open("pools")
		for _, p := range c.Pools {
			w.open(p.Name)
			w.kv("addrs", p.Addrs)
			w.close()
		}
		w.close()
	}
	w.open("secrets")
	for _, conn := range c.Conns {
		if conn.Local.Method != AuthPSK && conn.Remote.Method != AuthPSK {
			continue
		}
		w.open("ike-" + conn.Name)
		n := 0
		for _, id := range []string{conn.Local.ID, conn.Remote.ID} {
			if id != "" {
				n++
				w.kv("id-"+strconv.Itoa(n), quoteSetting(id))
			}
		}
		w.kv("secret", quoteSetting(conn.PSK))
		w.close()
	}
	w.close()
	return w.b.String()
}

// writeFiles writes strongswan.conf, swanctl.conf and the keys into dir.
func (c *StrongSwanConfig) writeFiles(dir string) error {
	if err := c.validate(); err != nil {
		return err
	}
	sw := filepath.Join(dir, "swanctl")
	for _, sub := range []string{"conf.d", "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl",
		"pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12"} {
		d := filepath.Join(sw, sub)
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("strongswan config: clear %s: %w", d, err)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("strongswan config: %w", err)
		}
	}
	write := func(name string, data []byte, mode os.FileMode) error {
		if err := os.WriteFile(name, data, mode); err != nil {
			return fmt.Errorf("strongswan config: write %s: %w", name, err)
		}
		return nil
	}
	for _, conn := range c.Conns {
		if conn.Local.Method == AuthPubkey {
			priv, pub, err := privateKeyPEM(conn.Local.Key)
			if err != nil {
				return fmt.Errorf("strongswan config: conn %q local key: %w", conn.Name, err)
			}
			if err := write(filepath.Join(sw, localKeyFile(conn.Name)), priv, 0o600); err != nil {
				return err
			}
			if err := write(filepath.Join(sw, localPubFile(conn.Name)), pub, 0o644); err != nil {
				return err
			}
		}
		for i, der := range conn.Local.Certs {
			name := localCertFile(conn.Name)
			if i > 0 {
				name = caCertFile(conn.Name, "local", i)
			}
			if err := write(filepath.Join(sw, name), certPEM(der), 0o644); err != nil {
				return err
			}
		}
		for i, der := range conn.Remote.CACerts {
			if err := write(filepath.Join(sw, caCertFile(conn.Name, "remote", i)), certPEM(der), 0o644); err != nil {
				return err
			}
		}
		if conn.Remote.Method == AuthPubkey && conn.Remote.PublicKey != nil {
			pub, err := publicKeyPEM(conn.Remote.PublicKey)
			if err != nil {
				return fmt.Errorf("strongswan config: conn %q remote key: %w", conn.Name, err)
			}
			if err := write(filepath.Join(sw, remotePubFile(conn.Name)), pub, 0o644); err != nil {
				return err
			}
		}
	}
	// charon in the sid chroot sees dir at another path (chrootRunDir)
	if err := write(filepath.Join(dir, "strongswan.conf"), []byte(c.strongswanConf(c.Version.confDir(dir))), 0o644); err != nil {
		return err
	}
	return write(filepath.Join(sw, "swanctl.conf"), []byte(c.swanctlConf()), 0o600)
}
