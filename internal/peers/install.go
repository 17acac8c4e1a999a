package peers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DefaultRoot is where scripts/install-peers.sh puts strongSwan and its wrappers; the
// environment variable OEMESH_PEERS_ROOT overrides it (for the script and for the tests).
const DefaultRoot = "/opt/oemesh-peers"

// Install says where the peers' programs are.
type Install struct {
	Root string // OEMESH_PEERS_ROOT

	// strongSwan: wrappers that run the unpacked binaries with the overlay (see the script).
	Charon  string // Root/bin/charon-systemd
	Swanctl string // Root/bin/swanctl
	// StrongSwanTree is the unpacked .deb tree (Root/strongswan).
	StrongSwanTree string
	// StrongSwan6Root is the Debian sid chroot with strongSwan 6.1 (Root/sid), for
	// StrongSwanConfig.Version = StrongSwan6. FindInstall does not require it; use
	// RequireStrongSwan6 in tests that need it.
	StrongSwan6Root string

	// Libreswan, from the Debian package.
	Pluto    string // /usr/libexec/ipsec/pluto
	Whack    string // /usr/libexec/ipsec/whack
	AddConn  string // /usr/libexec/ipsec/addconn
	Ipsec    string // /usr/sbin/ipsec (initnss, newhostkey, showhostkey)
	IP       string // ip(8)
	Sh       string
	Unshare  string            // unshare(1): strongSwan 6's private mount namespace
	Versions map[string]string // "strongswan", "strongswan6", "libreswan" when known
}

// FindInstall looks for the peers without failing; the error lists everything missing and
// says how to install it.
func FindInstall() (*Install, error) {
	root := os.Getenv("OEMESH_PEERS_ROOT")
	if root == "" {
		root = DefaultRoot
	}
	in := &Install{
		Root:            root,
		Charon:          filepath.Join(root, "bin", "charon-systemd"),
		Swanctl:         filepath.Join(root, "bin", "swanctl"),
		StrongSwanTree:  filepath.Join(root, "strongswan"),
		StrongSwan6Root: filepath.Join(root, "sid"),
		Pluto:           "/usr/libexec/ipsec/pluto",
		Whack:           "/usr/libexec/ipsec/whack",
		AddConn:         "/usr/libexec/ipsec/addconn",
		Ipsec:           "/usr/sbin/ipsec",
		Versions:        map[string]string{},
	}
	var missing []string
	for _, f := range []string{in.Charon, in.Swanctl, filepath.Join(in.StrongSwanTree, "usr/sbin/charon-systemd"),
		in.Pluto, in.Whack, in.Ipsec, in.AddConn} {
		if st, err := os.Stat(f); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, f)
		}
	}
	for _, c := range []struct {
		dst  *string
		name string
	}{{&in.IP, "ip"}, {&in.Sh, "sh"}, {&in.Unshare, "unshare"}} {
		p, err := exec.LookPath(c.name)
		if err != nil {
			missing = append(missing, c.name+" (PATH)")
			continue
		}
		*c.dst = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("interop peers not installed: missing %s; run `make deps` (scripts/install-peers.sh) as root",
			strings.Join(missing, ", "))
	}
	if b, err := os.ReadFile(filepath.Join(in.StrongSwanTree, ".oemesh-installed")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "charon-systemd="); ok {
				in.Versions["strongswan"] = v
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(in.StrongSwan6Root, ".oemesh-installed")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "charon-systemd="); ok {
				in.Versions["strongswan6"] = v
			}
		}
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "libreswan").Output(); err == nil {
		in.Versions["libreswan"] = strings.TrimSpace(string(out))
	}
	return in, nil
}

// ErrNotRoot says why Require skips a test run without root.
var ErrNotRoot = errors.New("interop peers need root (network namespaces, XFRM, mounts)")

// Require returns the installed peers for a test. Under `go test -short` it skips; without
// root it skips naming that; when the peers are missing it FAILS the test with a message
// saying to run `make deps`, because CI installs them and a skip there would prove nothing.
func Require(t testing.TB) *Install {
	t.Helper()
	if testing.Short() {
		t.Skip("interop peers (strongSwan, Libreswan) are not started under -short")
	}
	if os.Geteuid() != 0 {
		t.Skipf("%v; run the tests as root (CI does)", ErrNotRoot)
	}
	in, err := FindInstall()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// strongSwan6Missing says what of the sid chroot is missing, or returns nil. The stamp is
// written last by scripts/install-peers.sh, so a half-built chroot has none.
func (in *Install) strongSwan6Missing() error {
	var missing []string
	for _, f := range []string{".oemesh-installed", "usr/sbin/charon-systemd", "usr/sbin/swanctl"} {
		if _, err := os.Stat(filepath.Join(in.StrongSwan6Root, f)); err != nil {
			missing = append(missing, filepath.Join(in.StrongSwan6Root, f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("strongSwan 6 (Debian sid chroot) not installed: missing %s; run `make deps` (scripts/install-peers.sh) as root",
			strings.Join(missing, ", "))
	}
	return nil
}

// RequireStrongSwan6 is Require for tests that also run strongSwan 6.1 (StrongSwan6): it fails
// the test, naming `make deps`, when the sid chroot is missing.
func RequireStrongSwan6(t testing.TB) *Install {
	t.Helper()
	in := Require(t)
	if err := in.strongSwan6Missing(); err != nil {
		t.Fatal(err)
	}
	return in
}
