package peers

import (
	"context"
	"errors"
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

// StrongSwan is one charon instance running in a network namespace.
type StrongSwan struct {
	NS  string // network namespace
	Dir string // its files: strongswan.conf, swanctl/, charon.log, charon.vici
	// Log is charon's file log (levels from StrongSwanConfig.LogLevel).
	Log LogWatcher

	in    *Install
	cfg   StrongSwanConfig
	d     *daemon
	vici  string
	rules [][]string // ip rule specs we added, removed at cleanup
}

// StartStrongSwan writes cfg into a fresh directory, starts charon in namespace ns, waits
// until its vici socket answers and loads the connections (swanctl --load-all). Everything is
// stopped and removed in t.Cleanup; on failure the end of charon's log is logged first.
// cfg.Version picks the build: 5.9.8 from the unpacked tree, or 6.1 in the sid chroot, which
// runs in a private mount namespace of its own (see StrongSwan6); a test that uses 6.1 gets
// in from RequireStrongSwan6.
func StartStrongSwan(t testing.TB, in *Install, ns string, cfg StrongSwanConfig) *StrongSwan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := startStrongSwan(ctx, t, in, ns, cfg)
	if err != nil {
		t.Fatalf("strongSwan in netns %s: %v", ns, err)
	}
	return s
}

func startStrongSwan(ctx context.Context, t testing.TB, in *Install, ns string, cfg StrongSwanConfig) (*StrongSwan, error) {
	dir, err := instanceDir(t, "ssw")
	if err != nil {
		return nil, err
	}
	s := &StrongSwan{NS: ns, Dir: dir, in: in, cfg: cfg, vici: filepath.Join(dir, "charon.vici")}
	s.Log = LogWatcher{path: filepath.Join(dir, "charon.log")}
	if err := cfg.writeFiles(dir); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("charon (%v) in netns %s (%s), last log lines:\n%s", cfg.Version, ns, dir, tailFile(s.Log.path, 40))
		}
		if s.d != nil {
			// A peer that is slow to stop after its test is done is not the test's failure;
			// it is killed and said so.
			if err := s.d.stop(stopGrace); err != nil {
				t.Logf("stop charon in netns %s: %v", ns, err)
			}
		}
		s.removeRules()
	})
	if cfg.Dataplane == Libipsec {
		// kernel-libipsec routes the peer's address into its TUN (table 220). Keep charon's
		// own IKE and ESP-in-UDP packets, which leave from its sockets' source ports, in the
		// main table so they still reach the peer.
		port, natt := cfg.Port, cfg.NATTPort
		if port == 0 {
			port = 500
		}
		if natt == 0 {
			natt = 4500
		}
		for i, p := range []int{port, natt} {
			for _, fam := range []string{"-4", "-6"} {
				spec := []string{fam, "rule", "add", "pref", strconv.Itoa(100 + i), "ipproto", "udp", "sport", strconv.Itoa(p), "lookup", "main"}
				if err := s.ip(ctx, spec...); err != nil {
					return nil, fmt.Errorf("keep IKE out of kernel-libipsec's routes: %w", err)
				}
				s.rules = append(s.rules, spec)
			}
		}
	}
	charon, env, err := cfg.Version.command(in, dir, "/usr/sbin/charon-systemd")
	if err != nil {
		return nil, err
	}
	argv := append([]string{in.IP, "netns", "exec", ns}, charon...)
	s.d, err = startDaemon(fmt.Sprintf("charon (%v) in netns %s", cfg.Version, ns), argv, env, filepath.Join(dir, "charon.out"), s.Log.path)
	if err != nil {
		return nil, err
	}
	s.Log.d = s.d
	err = waitFor(ctx, s.d, "charon's vici socket", func() (bool, error) {
		if _, err := os.Stat(s.vici); err != nil {
			return false, nil
		}
		_, err := viciCall(ctx, s.vici, "version", nil, "", nil)
		return err == nil, nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// instanceDir makes a short directory for one peer (unix socket paths must stay under 108
// bytes, which t.TempDir's long names can exceed). It is removed in t.Cleanup unless
// OEMESH_PEERS_KEEP is set.
func instanceDir(t testing.TB, prefix string) (string, error) {
	dir, err := os.MkdirTemp("", "oemesh-"+prefix+"-")
	if err != nil {
		return "", fmt.Errorf("make instance dir: %w", err)
	}
	t.Cleanup(func() {
		if os.Getenv("OEMESH_PEERS_KEEP") != "" {
			t.Logf("OEMESH_PEERS_KEEP: keeping %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir, nil
}

func (s *StrongSwan) ip(ctx context.Context, args ...string) error {
	full := append([]string{"-n", s.NS}, args...)
	out, err := exec.CommandContext(ctx, s.in.IP, full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *StrongSwan) removeRules() {
	for _, spec := range s.rules {
		del := append([]string(nil), spec...)
		del[2] = "del"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.ip(ctx, del...) // the namespace may already be gone
		cancel()
	}
	s.rules = nil
}

// Swanctl runs swanctl against this instance (its socket and swanctl dir) and returns its
// combined output.
func (s *StrongSwan) Swanctl(ctx context.Context, args ...string) (string, error) {
	uri := "unix://" + filepath.Join(s.cfg.Version.confDir(s.Dir), "charon.vici")
	argv, env, err := s.cfg.Version.command(s.in, s.Dir, "/usr/sbin/swanctl", append(append([]string(nil), args...), "--uri", uri)...)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *StrongSwan) load(ctx context.Context) error {
	out, err := s.Swanctl(ctx, "--load-all", "--noprompt")
	if err != nil {
		return err
	}
	// swanctl exits 0 even when a connection is rejected; catch that here.
	if strings.Contains(out, "failed") {
		return fmt.Errorf("swanctl --load-all: %s", strings.TrimSpace(out))
	}
	return nil
}

// Reload replaces the configuration (connections, secrets, keys) and reloads it. Settings of
// strongswan.conf (version, data plane, ports, log levels) stay as charon started with them.
func (s *StrongSwan) Reload(ctx context.Context, cfg StrongSwanConfig) error {
	cfg.Version, cfg.Dataplane, cfg.Port, cfg.NATTPort, cfg.LogLevel, cfg.Charon = s.cfg.Version, s.cfg.Dataplane, s.cfg.Port, s.cfg.NATTPort, s.cfg.LogLevel, s.cfg.Charon
	if err := cfg.writeFiles(s.Dir); err != nil {
		return err
	}
	s.cfg = cfg
	return s.load(ctx)
}

// Initiate starts the CHILD SA child of connection ike (child "" initiates the IKE SA
// only) and waits until charon reports the outcome. The returned lines are charon's
// control log for this initiation; err is non-nil when it failed, and names the failure.
func (s *StrongSwan) Initiate(ctx context.Context, ike, child string) ([]string, error) {
	req := NewViciMessage()
	if child != "" {
		req.Set("child", child)
	}
	if ike != "" {
		req.Set("ike", ike)
	}
	if dl, ok := ctx.Deadline(); ok {
		req.Set("timeout", strconv.FormatInt(time.Until(dl).Milliseconds(), 10))
	}
	var lines []string
	resp, err := viciCall(ctx, s.vici, "initiate", req, "control-log", func(m *ViciMessage) {
		lines = append(lines, "["+m.Get("group")+"] "+m.Get("msg"))
	})
	if err != nil {
		return lines, fmt.Errorf("initiate %s/%s: %w", ike, child, err)
	}
	if resp.Get("success") != "yes" {
		return lines, fmt.Errorf("initiate %s/%s failed: %s\n%s", ike, child, resp.Get("errmsg"), strings.Join(lines, "\n"))
	}
	return lines, nil
}

// Terminate deletes the IKE SA of connection ike (with its CHILD SAs) and waits for it.
func (s *StrongSwan) Terminate(ctx context.Context, ike string) error {
	req := NewViciMessage()
	req.Set("ike", ike)
	if dl, ok := ctx.Deadline(); ok {
		req.Set("timeout", strconv.FormatInt(time.Until(dl).Milliseconds(), 10))
	}
	var lines []string
	resp, err := viciCall(ctx, s.vici, "terminate", req, "control-log", func(m *ViciMessage) {
		lines = append(lines, m.Get("msg"))
	})
	if err != nil {
		return fmt.Errorf("terminate %s: %w", ike, err)
	}
	if resp.Get("success") != "yes" {
		return fmt.Errorf("terminate %s failed: %s\n%s", ike, resp.Get("errmsg"), strings.Join(lines, "\n"))
	}
	return nil
}

// RekeyIKE asks charon to rekey its IKE SA of connection ike (vici
// "rekey"); it returns once charon has queued the rekey, not when it is done.
func (s *StrongSwan) RekeyIKE(ctx context.Context, ike string) error {
	return s.rekey(ctx, "ike", ike)
}

// RekeyChild asks charon to rekey its CHILD SAs named child (vici "rekey");
// it returns once charon has queued the rekey, not when it is done.
func (s *StrongSwan) RekeyChild(ctx context.Context, child string) error {
	return s.rekey(ctx, "child", child)
}

func (s *StrongSwan) rekey(ctx context.Context, key, name string) error {
	req := NewViciMessage()
	req.Set(key, name)
	resp, err := viciCall(ctx, s.vici, "rekey", req, "", nil)
	if err != nil {
		return fmt.Errorf("rekey %s %s: %w", key, name, err)
	}
	if resp.Get("success") != "yes" {
		return fmt.Errorf("rekey %s %s failed: %s", key, name, resp.Get("errmsg"))
	}
	return nil
}

// ListSAs returns the IKE SAs charon holds now, with their CHILD SAs.
func (s *StrongSwan) ListSAs(ctx context.Context) ([]IKESA, error) {
	var sas []IKESA
	var perr error
	_, err := viciCall(ctx, s.vici, "list-sas", nil, "list-sa", func(m *ViciMessage) {
		got, err := parseListSA(m)
		if err != nil && perr == nil {
			perr = err
		}
		sas = append(sas, got...)
	})
	if err != nil {
		return nil, fmt.Errorf("list-sas: %w", err)
	}
	return sas, perr
}

// ErrNoSuchSA is wrapped by WaitSA when its deadline passes without a match.
var ErrNoSuchSA = errors.New("no matching SA")

// WaitSA polls ListSAs until an IKE SA satisfies match and returns it.
func (s *StrongSwan) WaitSA(ctx context.Context, match func(IKESA) bool) (IKESA, error) {
	found, last, err := pollList(ctx, s.d, "an IKE SA in charon (netns "+s.NS+")", s.ListSAs, match, true)
	if err != nil {
		return IKESA{}, fmt.Errorf("%w: %w; charon holds %s", ErrNoSuchSA, err, describeSAs(last))
	}
	return found, nil
}

// WaitGone polls ListSAs until no IKE SA satisfies match (e.g. after the peer sent a Delete).
func (s *StrongSwan) WaitGone(ctx context.Context, match func(IKESA) bool) error {
	_, last, err := pollList(ctx, s.d, "IKE SAs to go from charon (netns "+s.NS+")", s.ListSAs, match, false)
	if err != nil {
		return fmt.Errorf("%w; charon still holds %s", err, describeSAs(last))
	}
	return nil
}

// WaitEstablished waits until an IKE SA of connection conn is ESTABLISHED and, when child is
// not "", has that CHILD SA INSTALLED.
func (s *StrongSwan) WaitEstablished(ctx context.Context, conn, child string) (IKESA, error) {
	return s.WaitSA(ctx, func(sa IKESA) bool {
		if sa.Name != conn || !sa.Established() {
			return false
		}
		if child == "" {
			return true
		}
		c, ok := sa.Child(child)
		return ok && c.State == "INSTALLED"
	})
}

func describeSAs(sas []IKESA) string {
	if len(sas) == 0 {
		return "no IKE SA"
	}
	var parts []string
	for _, sa := range sas {
		p := fmt.Sprintf("%s#%s %s %s[%s]...%s[%s]", sa.Name, sa.UniqueID, sa.State, sa.LocalHost, sa.LocalID, sa.RemoteHost, sa.RemoteID)
		for _, c := range sa.Children {
			p += fmt.Sprintf(" {%s %s %s}", c.Name, c.State, c.Mode)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// Stop stops charon now (t.Cleanup does it anyway).
func (s *StrongSwan) Stop() error { return s.d.stop(stopGrace) }

// VICISocket is the path of charon's vici socket.
func (s *StrongSwan) VICISocket() string { return s.vici }

// Config returns the configuration charon runs with.
func (s *StrongSwan) Config() StrongSwanConfig { return s.cfg }

// Regexps for charon log lines, for use with Log.WaitFrom.
var (
	CharonIKEEstablished   = regexp.MustCompile(`IKE_SA \S+ established between`)
	CharonChildEstablished = regexp.MustCompile(`CHILD_SA \S+ established with SPIs`)
	// CharonChildProposal is the ESP proposal charon selected: the CHILD SA was negotiated.
	CharonChildProposal = regexp.MustCompile(`selected proposal: ESP:\S+`)
	// CharonChildInstallFailed: the CHILD SA was negotiated and charon could not install it.
	// A responder then answers IKE_AUTH with NO_PROPOSAL_CHOSEN (and keeps the IKE SA), an
	// initiator deletes the CHILD SA.
	CharonChildInstallFailed = regexp.MustCompile(`unable to install inbound and outbound IPsec SA \(SAD\) in kernel`)
	// CharonKernelNoESP is why, on this kernel: XFRM has no ESP (Netlink), or
	// kernel-libipsec was asked for transport mode, which it does not do.
	CharonKernelNoESP = regexp.MustCompile(`received netlink error: Function not implemented|IPsec SA: unsupported mode`)
)
