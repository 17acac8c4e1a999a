package netnsdir

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces are mounted (iproute2's
// NETNS_RUN_DIR, and vishvananda/netns's bindMountPath).
const Dir = "/run/netns"

// lockPath serialises Prepare between test binaries that `go test ./...`
// runs at the same time: two of them binding Dir on itself at once would
// stack two mounts.
const lockPath = "/run/oemesh-netnsdir.lock"

// Prepare makes dir a shared mount point: if it is not a mount point yet,
// it is bind-mounted on itself (recursively, so that namespaces already in
// it stay reachable), then marked shared, so that an unmount here also
// leaves the mount namespaces of `ip netns exec` children. It is what
// iproute2 does before `ip netns add`, and is cheap to call before every
// namespace.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netnsdir: create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("netnsdir: lock %s: %w", lockPath, err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("netnsdir: lock %s: %w", lockPath, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("netnsdir: make %s shared: %w", dir, err)
	}
	// EINVAL: not a mount point yet.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netnsdir: bind %s on itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netnsdir: make %s shared: %w", dir, err)
	}
	return nil
}
