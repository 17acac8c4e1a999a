package leftovers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// SweepDead removes what runs that are gone left behind: it kills every
// process in their namespaces, then unmounts and removes the namespaces'
// names. Namespaces of runs s.Live reports alive (LivePIDs by default) are
// left alone, so two test binaries running at once do not sweep each
// other. It returns what it removed.
//
// A test binary that `go test -timeout` kills panics without running its
// t.Cleanup; the next run's TestMain calls SweepDead.
func SweepDead(s Scanner) ([]Item, error) {
	s.defaults()
	if s.Live == nil {
		s.Live = LivePIDs(s.Proc)
	}
	ns, err := s.namespaces()
	if err != nil {
		return nil, err
	}
	procs, err := s.processes(ns)
	var removed []Item
	errs := []error{err}
	for _, p := range procs {
		if p.ns == "" {
			continue // a daemon elsewhere: not attributable to a dead run
		}
		if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("leftovers: kill %s: %w", p.Name, err))
			continue
		}
		removed = append(removed, p)
	}
	for _, n := range ns {
		if n.live {
			continue
		}
		path := filepath.Join(s.NetnsDir, n.name)
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("leftovers: unmount %s: %w", path, err))
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("leftovers: remove %s: %w", path, err))
			continue
		}
		removed = append(removed, Item{Kind: Namespace, Name: n.name, Detail: fmt.Sprintf("its run (pid %d) gone", n.pid)})
	}
	return removed, errors.Join(errs...)
}
