package interopvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/peers"
	"github.com/oemesh/oemesh/internal/vmtest"
)

// inVMTests are the tests TestLibreswanOEInVM must see pass in the guest.
var inVMTests = []string{
	"TestInVMLibreswanNullOE/libreswan-initiates",
	"TestInVMLibreswanNullOE/oemeshd-initiates",
	"TestInVMLibreswanDNSSECRSA/published-key",
	"TestInVMLibreswanDNSSECRSA/other-key-in-dns",
	"TestInVMFailClosedXFRM",
	"TestInVMPortExclusionXFRM",
	"TestInVMLibreswanCertOE/direct",
	"TestInVMLibreswanCertOE/behind-nat",
	"TestInVMLibreswanCertOE/host-key-no-certreq",
	"TestInVMOemeshdCertOEClient/direct",
	"TestInVMOemeshdCertOEClient/behind-nat",
	"TestInVMOemeshdCertOEClient/by-name",
	"TestInVMOemeshdCertOEClient/wrong-name",
}

// TestLibreswanOEInVM builds oemeshd, oemesh and this package's test
// binary, makes oemeshd's RSA-3072 host key (`oemesh newhostkey --type rsa
// --bits 3072`, on the host: key generation is slow under TCG), and runs
// the TestInVM* tests in Debian's stock kernel (internal/vmtest), where
// Libreswan's and oemeshd's XFRM SAs can carry ESP.
func TestLibreswanOEInVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	if os.Getenv("OEMESH_IN_VM") != "" {
		t.Skip("already inside the VM")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces in the guest, apt-get download, /var/tmp cache (CI runs as root)")
	}
	// CI installs all of these (`make deps`): a missing one is a failure.
	for bin, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
		"cpio": "cpio", "modprobe": "kmod", "nsd": "nsd", "ldns-signzone": "ldnsutils"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("needs %s (Debian package %s; `make deps` installs it)", bin, pkg)
		}
	}
	// The guest sees the host's root: Libreswan must be installed here.
	if _, err := peers.FindInstall(); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// go test puts the go command's own GOROOT/bin first on our PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	dir := t.TempDir()
	for _, b := range [][]string{
		{"build", "-o", filepath.Join(dir, "oemeshd"), "./cmd/oemeshd"},
		{"build", "-o", filepath.Join(dir, "oemesh"), "./cmd/oemesh"},
		{"test", "-c", "-o", filepath.Join(dir, "interopvm.test"), "./internal/interopvm"},
	} {
		cmd := exec.Command(gobin, b...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(b, " "), err, out)
		}
	}
	files := map[string]string{"oemeshd": filepath.Join(dir, "oemeshd"), "oemesh": filepath.Join(dir, "oemesh"),
		"interopvm.test": filepath.Join(dir, "interopvm.test")}
	key := filepath.Join(dir, "rsa-hostkey.pem")
	if out, err := exec.Command(files["oemesh"], "newhostkey", "--type", "rsa", "--bits", "3072", "--out", key).CombinedOutput(); err != nil {
		t.Fatalf("oemesh newhostkey --type rsa --bits 3072: %v\n%s", err, out)
	}
	files["rsa-hostkey.pem"] = key
	// The control: another RSA key, published in DNS for oemeshd's address.
	other := filepath.Join(dir, "rsa-other.pem")
	if out, err := exec.Command(files["oemesh"], "newhostkey", "--type", "rsa", "--bits", "3072", "--out", other).CombinedOutput(); err != nil {
		t.Fatalf("oemesh newhostkey --type rsa --bits 3072: %v\n%s", err, out)
	}
	files["rsa-other.pem"] = other

	script := fmt.Sprintf(`
for m in xfrm_user esp4 esp6 xfrm4_tunnel tunnel4 veth af_packet aesni_intel gcm ghash_generic seqiv chacha20poly1305 nf_tables nft_chain_nat nf_nat nft_compat xt_policy xt_nat; do /run/modprobe $m 2>/dev/null; done
export OEMESH_IN_VM=1 OEMESH_VM_FILES="$PWD"
./interopvm.test -test.v -test.count=1 -test.timeout=9m -test.run '%s'
`, envOr("OEMESH_VM_RUN", "^TestInVM"))
	start := time.Now()
	res, err := vmtest.Run(context.Background(), vmtest.Options{}, script, files)
	// One log call: serial output arrives in pieces that would interleave.
	t.Log("guest console:\n" + strings.ReplaceAll(res.Console, "\r", ""))
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	t.Logf("VM: kernel %s, accel %s, wall %v (total with builds %v)", res.Kernel, res.Accel,
		res.Wall.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	if res.RC != 0 {
		t.Fatalf("Libreswan interop tests failed in the VM (exit status %d)", res.RC)
	}
	if os.Getenv("OEMESH_VM_RUN") != "" {
		return
	}
	for _, name := range inVMTests {
		if !strings.Contains(res.Console, "--- PASS: "+name+" ") {
			t.Errorf("the VM did not run %s to a pass", name)
		}
	}
	if strings.Contains(res.Console, "--- SKIP: TestInVM") {
		t.Error("a TestInVM test skipped inside the VM")
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
