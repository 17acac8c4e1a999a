package netnsdir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// innerEnv makes the test binary play a fresh machine in a private mount
// namespace (see TestMain) instead of running the tests.
const innerEnv = "NETNSDIR_FRESH_MACHINE"

func TestMain(m *testing.M) {
	mode := os.Getenv(innerEnv)
	if dir, ok := strings.CutPrefix(mode, "twice:"); ok {
		for range 2 {
			if err := Prepare(dir); err != nil {
				fmt.Println(err)
				os.Exit(2)
			}
		}
		os.Exit(0)
	}
	switch mode {
	case "":
		os.Exit(m.Run())
	case "prepared":
		os.Exit(freshMachine(true))
	default:
		os.Exit(freshMachine(false))
	}
}

// freshMachine runs, in a private mount namespace, what `make test` did on a
// new machine: /run empty (a tmpfs), a namespace made as internal/lab makes
// it, then `ip netns add` by someone else, then the namespace deleted as
// Lab.Close deletes it. It prints the deletion's result and exits 0 if the
// namespace's file is gone.
func freshMachine(prepare bool) int {
	if err := unix.Mount("none", "/run", "tmpfs", 0, ""); err != nil {
		fmt.Println("mount tmpfs on /run:", err)
		return 2
	}
	if prepare {
		if err := Prepare(Dir); err != nil {
			fmt.Println(err)
			return 2
		}
	}
	if err := newNamed("omx-a"); err != nil {
		fmt.Println("create omx-a:", err)
		return 2
	}
	if out, err := exec.Command("ip", "netns", "add", "omx-other").CombinedOutput(); err != nil {
		fmt.Printf("ip netns add: %v: %s\n", err, out)
		return 2
	}
	err := netns.DeleteNamed("omx-a")
	fmt.Println("delete omx-a:", err)
	if errors.Is(err, unix.EBUSY) {
		return 1
	}
	if _, serr := os.Stat(Dir + "/omx-a"); err != nil || serr == nil {
		return 1
	}
	return 0
}

func newNamed(name string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if err != nil {
		return err
	}
	h.Close()
	return netns.Set(orig)
}

// run re-executes the test binary as a fresh machine in a private mount
// namespace, so that nothing it mounts reaches the real /run.
func run(t *testing.T, mode string) (string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount and network namespaces); CI runs as root")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), innerEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
}

// TestPreparedNamespaceDeletes: with the directory prepared first, a
// namespace made before someone's `ip netns add` is deleted cleanly.
func TestPreparedNamespaceDeletes(t *testing.T) {
	out, code := run(t, "prepared")
	if code != 0 {
		t.Fatalf("namespace not deleted on a prepared /run/netns (exit %d):\n%s", code, out)
	}
}

// TestUnpreparedNamespaceLeaks is the leak itself, kept as a test so that
// TestPreparedNamespaceDeletes is known to test something: without
// Prepare, the same steps leave the namespace's file behind, busy.
func TestUnpreparedNamespaceLeaks(t *testing.T) {
	out, code := run(t, "bare")
	if code != 1 || !strings.Contains(out, "device or resource busy") {
		t.Fatalf("expected the deletion to fail with EBUSY without Prepare (exit %d):\n%s", code, out)
	}
}

// TestPrepareTwice: Prepare on a directory that is already a shared mount
// point changes nothing (it does not stack a second bind mount).
func TestPrepareTwice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces); CI runs as root")
	}
	dir := t.TempDir()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs none "$1" && mkdir "$1/netns" && "$2" -test.run '^$' && grep -c " $1/netns " /proc/self/mountinfo`, "sh", dir, os.Args[0])
	cmd.Env = append(os.Environ(), innerEnv+"=twice:"+dir+"/netns")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "1" {
		t.Fatalf("mounts on the directory after Prepare twice: %q, want 1", got)
	}
}
