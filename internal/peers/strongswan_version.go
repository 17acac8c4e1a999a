package peers

import (
	"fmt"
	"path/filepath"
	"regexp"
)

//go:generate go tool stringer -type=StrongSwanVersion -linecomment

// StrongSwanVersion selects which strongSwan build a StrongSwan instance runs.
type StrongSwanVersion int

const (
	// StrongSwan5 (the default) is Debian 12's strongSwan 5.9.8, unpacked by
	// scripts/install-peers.sh into Install.StrongSwanTree and run through the wrappers in
	// Install.Root/bin. It has no IKE_INTERMEDIATE (RFC 9242), no additional key exchanges
	// (RFC 9370) and no ML-KEM.
	StrongSwan5 StrongSwanVersion = iota // strongSwan 5.9
	// StrongSwan6 is strongSwan 6.1 from Debian sid, in the chroot that
	// scripts/install-peers.sh builds with debootstrap (Install.StrongSwan6Root). Its openssl
	// plugin (OpenSSL >= 3.5) offers ML-KEM-512/768/1024, and its proposals take RFC 9370's
	// additional key exchanges: "aes256gcm16-prfsha384-x25519-ke1_mlkem768", with "-ke1_none"
	// to make the additional exchange optional.
	StrongSwan6 // strongSwan 6.1
)

// chrootRunDir is where the instance directory appears inside the sid chroot: charon and
// swanctl run with a private tmpfs on the chroot's /run, and the instance directory
// bind-mounted here, so their config, vici socket and log are the host's files.
const chrootRunDir = "/run/oemesh"

// chrootMounts is the shell program that runs a strongSwan 6 binary in the sid chroot. It
// runs under `unshare --mount --propagation private`, so every mount it makes exists only
// for that process and its children and ends with them: nothing reaches the host's mount
// table or its /run. Its arguments are the chroot, the instance directory and the command
// (as seen inside the chroot). Every step exec()s the next, so the pid of the
// `ip netns exec` we start is charon's own.
const chrootMounts = `set -e
r=$0 d=$1
shift
mount --bind /proc "$r/proc"
mount --bind /dev "$r/dev"
mount --bind /sys "$r/sys"
mount -t tmpfs -o mode=0755 oemesh-run "$r/run"
mkdir -p "$r/run/strongswan" "$r` + chrootRunDir + `"
mount --bind "$d" "$r` + chrootRunDir + `"
exec chroot "$r" "$@"`

// confDir is dir as charon sees it: the same path for 5.9, chrootRunDir in the chroot.
func (v StrongSwanVersion) confDir(dir string) string {
	if v == StrongSwan6 {
		return chrootRunDir
	}
	return dir
}

// command returns the argv that runs strongSwan's program prog ("/usr/sbin/charon-systemd"
// or "/usr/sbin/swanctl") for the instance in dir, and the environment that points it at the
// instance's strongswan.conf and swanctl directory. The caller prefixes `ip netns exec NS`
// for charon.
func (v StrongSwanVersion) command(in *Install, dir, prog string, args ...string) (argv, env []string, err error) {
	conf := v.confDir(dir)
	env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"STRONGSWAN_CONF=" + filepath.Join(conf, "strongswan.conf"),
		"SWANCTL_DIR=" + filepath.Join(conf, "swanctl")}
	switch v {
	case StrongSwan5:
		wrapper := map[string]string{"/usr/sbin/charon-systemd": in.Charon, "/usr/sbin/swanctl": in.Swanctl}[prog]
		if wrapper == "" {
			return nil, nil, fmt.Errorf("strongSwan 5.9: no wrapper for %s", prog)
		}
		return append([]string{wrapper}, args...), env, nil
	case StrongSwan6:
		if err := in.strongSwan6Missing(); err != nil {
			return nil, nil, err
		}
		argv = []string{in.Unshare, "--mount", "--propagation", "private", in.Sh, "-c", chrootMounts,
			in.StrongSwan6Root, dir, prog}
		return append(argv, args...), env, nil
	default:
		return nil, nil, fmt.Errorf("unknown strongSwan version %d", int(v))
	}
}

// additionalKE matches RFC 9370 additional key exchange transforms in a strongSwan proposal
// ("ke1_mlkem768" ... "ke7_none"), which only strongSwan 6 parses.
var additionalKE = regexp.MustCompile(`(^|-)ke[1-7]_`)
