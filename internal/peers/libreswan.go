package peers

import (
	"context"
	"crypto/rsa"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Libreswan is one pluto instance running in a network namespace, with its own config,
// NSS db, run dir (control socket), policy group files, secrets and log.
type Libreswan struct {
	NS  string
	Dir string
	// Log is pluto's log file.
	Log LogWatcher
	// HostKey is the instance's RSA host key when LibreswanConfig.HostKeyBits > 0.
	HostKey *LibreswanHostKey

	in  *Install
	cfg LibreswanConfig
	d   *daemon
	ctl string
}

// LibreswanHostKey is a key pluto holds in its NSS db.
type LibreswanHostKey struct {
	CKAID     string
	PublicKey *rsa.PublicKey
	// RSASigKey is the "0s..." form for a peer's rightrsasigkey=.
	RSASigKey string
}

// StartLibreswan prepares an instance directory (NSS db, host key if asked, configs), starts
// pluto in namespace ns with a private /etc/resolv.conf (bind-mounted in its own mount
// namespace) and waits until its control socket answers and every conn is loaded. pluto is
// stopped and its files removed in t.Cleanup.
func StartLibreswan(t testing.TB, in *Install, ns string, cfg LibreswanConfig) *Libreswan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := startLibreswan(ctx, t, in, ns, cfg)
	if err != nil {
		t.Fatalf("Libreswan in netns %s: %v", ns, err)
	}
	return l
}

func startLibreswan(ctx context.Context, t testing.TB, in *Install, ns string, cfg LibreswanConfig) (*Libreswan, error) {
	dir, err := instanceDir(t, "lsw")
	if err != nil {
		return nil, err
	}
	l := &Libreswan{NS: ns, Dir: dir, in: in, cfg: cfg, ctl: filepath.Join(dir, "run", "pluto.ctl")}
	l.Log = LogWatcher{path: filepath.Join(dir, "pluto.log")}
	if err := cfg.writeFiles(dir, ""); err != nil {
		return nil, err
	}
	nss := filepath.Join(dir, "nss")
	if _, err := l.ipsec(ctx, "initnss", "--nssdir", nss); err != nil {
		return nil, err
	}
	if err := l.importCAs(ctx, nss); err != nil {
		return nil, err
	}
	if err := l.importCerts(ctx, nss); err != nil {
		return nil, err
	}
	if cfg.HostKeyBits > 0 {
		if l.HostKey, err = l.newHostKey(ctx, cfg.HostKeyBits); err != nil {
			return nil, err
		}
		if err := cfg.writeFiles(dir, l.HostKey.CKAID); err != nil {
			return nil, err
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pluto in netns %s (%s), last log lines:\n%s", ns, dir, tailFile(l.Log.path, 40))
		}
		if l.d != nil {
			if err := l.d.stop(stopGrace); err != nil {
				t.Logf("stop pluto in netns %s: %v", ns, err)
			}
		}
	})
	// `ip netns exec` already gives the command its own mount namespace (slave to ours), so
	// the bind mount of resolv.conf is seen by pluto and its libunbound only.
	script := `mount --bind "$0" /etc/resolv.conf && exec "$@"`
	argv := []string{in.IP, "netns", "exec", ns, in.Sh, "-c", script, filepath.Join(dir, "resolv.conf"),
		in.Pluto, "--config", filepath.Join(dir, "ipsec.conf"), "--nofork",
		"--rundir", filepath.Join(dir, "run"), "--nssdir", nss, "--ipsecdir", filepath.Join(dir, "ipsec.d"),
		"--secretsfile", filepath.Join(dir, "ipsec.secrets"), "--logfile", l.Log.path}
	l.d, err = startDaemon("pluto in netns "+ns, argv, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		filepath.Join(dir, "pluto.out"), l.Log.path)
	if err != nil {
		return nil, err
	}
	l.Log.d = l.d
	// pluto forks `addconn --autoall` once its socket is up; wait until every conn is there,
	// and until it listens on the namespace's addresses (an OE initiation before that fails
	// with "need --listen before opportunistic initiation").
	err = waitFor(ctx, l.d, "pluto's control socket", func() (bool, error) {
		_, err := l.Whack(ctx, "--listen")
		return err == nil, nil
	})
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, l.d, "pluto to load and route its conns", func() (bool, error) {
		out, err := l.Whack(ctx, "--status")
		if err != nil {
			return false, nil
		}
		return cfg.loadedIn(out), nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// loadedIn reports whether whack --status output shows every conn loaded: each group conn
// instantiated for each CIDR of its policy file, and each auto=route conn or instance routed
// (a trap installed). Before that, an ACQUIRE or --oppohere finds "no routed template".
func (c *LibreswanConfig) loadedIn(status string) bool {
	line := func(name string) (string, bool) {
		i := strings.Index(status, `"`+name+`": `)
		if i < 0 {
			return "", false
		}
		l, _, _ := strings.Cut(status[i:], "\n")
		return l, true
	}
	for _, conn := range c.Conns {
		names := []string{conn.Name}
		if conn.Right == "%group" || conn.Right == "%opportunisticgroup" {
			names = names[:0]
			for _, cidr := range c.Policies[conn.Name] {
				names = append(names, conn.Name+"#"+strings.TrimSpace(cidr))
			}
			if _, ok := line(conn.Name); !ok {
				return false
			}
		}
		for _, n := range names {
			l, ok := line(n)
			if !ok || (conn.Auto == "route" && !strings.Contains(l, "erouted")) {
				return false
			}
		}
	}
	return true
}

func (l *Libreswan) ipsec(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, l.in.Ipsec, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ipsec %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// importCAs puts LibreswanConfig.CAs into the NSS db as trusted CAs.
func (l *Libreswan) importCAs(ctx context.Context, nss string) error {
	for nick, pemCert := range l.cfg.CAs {
		f := filepath.Join(l.Dir, "ca-"+nick+".pem")
		if err := os.WriteFile(f, pemCert, 0o600); err != nil {
			return fmt.Errorf("libreswan: CA %s: %w", nick, err)
		}
		out, err := exec.CommandContext(ctx, "certutil", "-A", "-d", "sql:"+nss, "-n", nick, "-t", "CT,,", "-a", "-i", f).CombinedOutput()
		if err != nil {
			return fmt.Errorf("libreswan: certutil -A CA %s into %s (Debian package libnss3-tools): %w: %s", nick, nss, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// importCerts puts LibreswanConfig.Certs into the NSS db with their keys:
// openssl bundles each as PKCS#12, which pk12util imports (NSS has no
// import of a bare private key). The chain's intermediates come in too,
// without trust, so that pluto can send them.
func (l *Libreswan) importCerts(ctx context.Context, nss string) error {
	for nick, c := range l.cfg.Certs {
		base := filepath.Join(l.Dir, "cert-"+nick)
		if err := os.WriteFile(base+".pem", c.PEM, 0o600); err != nil {
			return fmt.Errorf("libreswan: certificate %s: %w", nick, err)
		}
		if err := os.WriteFile(base+".key", c.KeyPEM, 0o600); err != nil {
			return fmt.Errorf("libreswan: certificate %s: %w", nick, err)
		}
		// A fixed password: the file lives only in the instance directory.
		const pass = "oemesh-test"
		out, err := exec.CommandContext(ctx, "openssl", "pkcs12", "-export", "-in", base+".pem", "-inkey", base+".key",
			"-name", nick, "-passout", "pass:"+pass, "-out", base+".p12").CombinedOutput()
		if err != nil {
			return fmt.Errorf("libreswan: openssl pkcs12 -export of certificate %s (Debian package openssl): %w: %s", nick, err, strings.TrimSpace(string(out)))
		}
		out, err = exec.CommandContext(ctx, "pk12util", "-i", base+".p12", "-d", "sql:"+nss, "-W", pass).CombinedOutput()
		if err != nil {
			return fmt.Errorf("libreswan: pk12util -i certificate %s into %s (Debian package libnss3-tools): %w: %s", nick, nss, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

var (
	ckaidRe     = regexp.MustCompile(`ckaid: ([0-9a-f]+)`)
	rsaSigKeyRe = regexp.MustCompile(`leftrsasigkey=(0s[A-Za-z0-9+/=]+)`)
)

func (l *Libreswan) newHostKey(ctx context.Context, bits int) (*LibreswanHostKey, error) {
	nss := filepath.Join(l.Dir, "nss")
	if _, err := l.ipsec(ctx, "newhostkey", "--nssdir", nss, "--bits", strconv.Itoa(bits), "--quiet"); err != nil {
		return nil, err
	}
	list, err := l.ipsec(ctx, "showhostkey", "--nssdir", nss, "--list")
	if err != nil {
		return nil, err
	}
	m := ckaidRe.FindStringSubmatch(list)
	if m == nil {
		return nil, fmt.Errorf("ipsec showhostkey --list: no ckaid in %q", list)
	}
	left, err := l.ipsec(ctx, "showhostkey", "--nssdir", nss, "--left", "--ckaid", m[1])
	if err != nil {
		return nil, err
	}
	k := rsaSigKeyRe.FindStringSubmatch(left)
	if k == nil {
		return nil, fmt.Errorf("ipsec showhostkey --left: no leftrsasigkey in %q", left)
	}
	pub, err := ParseRSASigKey(k[1])
	if err != nil {
		return nil, fmt.Errorf("host key from ipsec showhostkey: %w", err)
	}
	return &LibreswanHostKey{CKAID: m[1], PublicKey: pub, RSASigKey: k[1]}, nil
}

// Listen makes pluto rescan the namespace's interfaces (whack --listen), e.g. after a test
// added an address.
func (l *Libreswan) Listen(ctx context.Context) error {
	_, err := l.Whack(ctx, "--listen")
	return err
}

// Whack runs whack against this instance's control socket and returns its output. whack
// exits non-zero when the operation failed (e.g. an --initiate that did not establish).
func (l *Libreswan) Whack(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{"--ctlsocket", l.ctl}, args...)
	out, err := exec.CommandContext(ctx, l.in.Whack, argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("whack %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Up initiates conn and waits for the outcome, like `ipsec auto --up` (whack --initiate).
func (l *Libreswan) Up(ctx context.Context, conn string) (string, error) {
	return l.Whack(ctx, "--name", conn, "--initiate")
}

// Down deletes conn's SAs (whack --terminate).
func (l *Libreswan) Down(ctx context.Context, conn string) (string, error) {
	return l.Whack(ctx, "--name", conn, "--terminate")
}

// Oppo simulates a kernel ACQUIRE for a packet here→there (ICMP echo by default), which starts
// opportunistic IKE toward there as the matching group conn says. whack returns when pluto
// has finished with it (established or failed); the result is in the states and the log.
func (l *Libreswan) Oppo(ctx context.Context, here, there string) (string, error) {
	return l.Whack(ctx, "--oppohere", here, "--oppothere", there)
}

// ShowStates returns pluto's states (whack --showstates).
func (l *Libreswan) ShowStates(ctx context.Context) ([]LibreswanState, error) {
	out, err := l.Whack(ctx, "--showstates")
	if err != nil {
		return nil, err
	}
	sts, err := parseShowStates(out)
	if err != nil {
		return nil, err
	}
	for i := range sts {
		if sts[i].Peer == "" {
			sts[i].Peer = l.rightOf(sts[i].Conn)
		}
	}
	return sts, nil
}

// rightOf is the right= of a conn with a fixed peer (whack omits the address for those).
func (l *Libreswan) rightOf(conn string) string {
	for _, c := range l.cfg.Conns {
		if c.Name == conn && !strings.HasPrefix(c.Right, "%") {
			return c.Right
		}
	}
	return ""
}

// TrafficStatus returns the established CHILD SAs (whack --trafficstatus).
func (l *Libreswan) TrafficStatus(ctx context.Context) ([]LibreswanTraffic, error) {
	out, err := l.Whack(ctx, "--trafficstatus")
	if err != nil {
		return nil, err
	}
	ts, err := parseTrafficStatus(out)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		if ts[i].Peer == "" {
			ts[i].Peer = l.rightOf(ts[i].Conn)
		}
	}
	return ts, nil
}

// WaitState polls ShowStates until a state satisfies match.
func (l *Libreswan) WaitState(ctx context.Context, match func(LibreswanState) bool) (LibreswanState, error) {
	found, last, err := pollList(ctx, l.d, "a pluto state (netns "+l.NS+")", l.ShowStates, match, true)
	if err != nil {
		return LibreswanState{}, fmt.Errorf("%w: %w; pluto holds %s", ErrNoSuchSA, err, describeStates(last))
	}
	return found, nil
}

// WaitGone polls ShowStates until no state satisfies match.
func (l *Libreswan) WaitGone(ctx context.Context, match func(LibreswanState) bool) error {
	_, last, err := pollList(ctx, l.d, "states to go from pluto (netns "+l.NS+")", l.ShowStates, match, false)
	if err != nil {
		return fmt.Errorf("%w; pluto still holds %s", err, describeStates(last))
	}
	return nil
}

// WaitIKEEstablished waits until pluto has an established IKE SA with peer (an address).
func (l *Libreswan) WaitIKEEstablished(ctx context.Context, peer string) (LibreswanState, error) {
	return l.WaitState(ctx, func(st LibreswanState) bool { return st.Peer == peer && st.IKEEstablished() })
}

// AddConn adds conn to the running pluto, replacing a conn of the same name (like
// `ipsec auto --replace`): it rewrites ipsec.conf and runs addconn for that conn inside the
// namespace. Use it when the conn needs something known only after start, such as a peer's
// host key.
func (l *Libreswan) AddConn(ctx context.Context, conn LibreswanConn) error {
	cfg := l.cfg
	cfg.Conns = append([]LibreswanConn(nil), l.cfg.Conns...)
	replaced := false
	for i := range cfg.Conns {
		if cfg.Conns[i].Name == conn.Name {
			cfg.Conns[i], replaced = conn, true
		}
	}
	if !replaced {
		cfg.Conns = append(cfg.Conns, conn)
	}
	ckaid := ""
	if l.HostKey != nil {
		ckaid = l.HostKey.CKAID
	}
	if err := cfg.writeFiles(l.Dir, ckaid); err != nil {
		return err
	}
	l.cfg = cfg
	if replaced {
		_, _ = l.Whack(ctx, "--name", conn.Name, "--delete")
	}
	argv := []string{"netns", "exec", l.NS, l.in.AddConn, "--ctlsocket", l.ctl, "--config", filepath.Join(l.Dir, "ipsec.conf"), conn.Name}
	out, err := exec.CommandContext(ctx, l.in.IP, argv...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("addconn %s in netns %s: %w: %s", conn.Name, l.NS, err, strings.TrimSpace(string(out)))
	}
	if conn.Auto == "route" {
		if _, err := l.Whack(ctx, "--name", conn.Name, "--route"); err != nil {
			return err
		}
	}
	return nil
}

// SetSecrets replaces ipsec.secrets and makes pluto reread it.
func (l *Libreswan) SetSecrets(ctx context.Context, lines []string) error {
	l.cfg.Secrets = append([]string(nil), lines...)
	ckaid := ""
	if l.HostKey != nil {
		ckaid = l.HostKey.CKAID
	}
	if err := l.cfg.writeFiles(l.Dir, ckaid); err != nil {
		return err
	}
	_, err := l.Whack(ctx, "--rereadsecrets")
	return err
}

// Stop stops pluto now (t.Cleanup does it anyway).
func (l *Libreswan) Stop() error { return l.d.stop(stopGrace) }

// ControlSocket is pluto's whack socket.
func (l *Libreswan) ControlSocket() string { return l.ctl }

// Config returns the configuration pluto runs with.
func (l *Libreswan) Config() LibreswanConfig { return l.cfg }
