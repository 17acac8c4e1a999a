package vmtest

import (
	"context"
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

func need(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces in the guest, apt-get download, /var/tmp cache")
	}
	for bin, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static", "cpio": "cpio", "modprobe": "kmod"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("needs %s (Debian package %s): run `make deps`", bin, pkg)
		}
	}
}

// envOr lets `make test-kernel` narrow the run, e.g.
// OEMESH_VM_RUN=TestVMESP OEMESH_VM_BENCHTIME=1000x.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

var (
	benchRE = regexp.MustCompile(`(?m)^BenchmarkInstallDeleteSAPairs\S*\s+\d+\s+\d+ ns/op.*$`)
	scaleRE = regexp.MustCompile(`(?m)scale (host|subnet): install .*$`)
)

// TestXfrmInVM runs kernel/xfrm's tests, the ESP ones included
// (OEMESH_IN_VM=1), and its install/delete benchmark, in Debian's kernel.
func TestXfrmInVM(t *testing.T) {
	need(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "xfrm.test")
	// go test puts the go command's own GOROOT/bin first on our PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build the test binary: %v", err)
	}
	build := exec.Command(gobin, "test", "-c", "-o", bin, "./kernel/xfrm")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./kernel/xfrm: %v\n%s", err, out)
	}
	run, benchtime := envOr("OEMESH_VM_RUN", "."), envOr("OEMESH_VM_BENCHTIME", "1000x")
	// OEMESH_VM_SCALE: the pairs of kernel/xfrm's TestVMScale (its default: 2,000).
	scale := os.Getenv("OEMESH_VM_SCALE")
	if _, err := strconv.Atoi(scale); scale != "" && err != nil {
		t.Fatalf("OEMESH_VM_SCALE=%q: want a number of pairs", scale)
	}
	script := fmt.Sprintf(`
for m in xfrm_user esp4 esp6 veth af_packet; do /run/modprobe $m 2>/dev/null; done
OEMESH_IN_VM=1 OEMESH_VM_SCALE=%s ./xfrm.test -test.v -test.count=1 -test.timeout=14m -test.run '%s' -test.bench=BenchmarkInstallDeleteSAPairs -test.benchtime=%s
`, scale, run, benchtime)
	start := time.Now()
	res, err := Run(context.Background(), Options{}, script, map[string]string{"xfrm.test": bin})
	// One log call: serial output arrives in pieces that would interleave.
	t.Log("guest console:\n" + strings.ReplaceAll(res.Console, "\r", ""))
	_ = os.WriteFile(filepath.Join(DefaultCache, "xfrm-console.log"), []byte(res.Console), 0o644)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	t.Logf("VM: kernel %s, accel %s, wall %v (total with build %v)", res.Kernel, res.Accel,
		res.Wall.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	if res.RC != 0 {
		t.Fatalf("kernel/xfrm tests failed in the VM (exit status %d)", res.RC)
	}
	for _, want := range []string{"--- PASS: TestVMScale", "--- PASS: TestVMESP", "--- PASS: TestVMFirstPingLarvalDrop", "--- PASS: TestVMSAExpires", "--- PASS: TestVMRekeyDeferOutbound", "--- PASS: TestProbe", "--- PASS: TestVMCAT"} {
		if run != "." {
			break
		}
		if !strings.Contains(res.Console, want) {
			t.Errorf("VM output lacks %q", want)
		}
	}
	for _, m := range scaleRE.FindAllString(res.Console, -1) {
		t.Logf("TestVMScale (guest %s, %s): %s", res.Kernel, res.Accel, strings.TrimSpace(m))
	}
	if m := benchRE.FindString(res.Console); m != "" {
		t.Logf("benchmark (guest %s, %s): %s", res.Kernel, res.Accel, strings.TrimSpace(m))
	} else {
		t.Error("VM output lacks the BenchmarkInstallDeleteSAPairs result")
	}
}
