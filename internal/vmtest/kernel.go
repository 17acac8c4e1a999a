package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultCache is where kernels and initramfs images are kept between runs.
// It must not be under /tmp: the guest mounts a tmpfs there.
const DefaultCache = "/var/tmp/oemesh-vmtest"

// Kernel is an unpacked Debian kernel package.
type Kernel struct {
	Version string // e.g. 6.1.0-56-amd64
	Image   string // vmlinuz path
	Root    string // directory holding lib/modules/<Version>
}

var kernelPkgRE = regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*-amd64)\b`)

// kernelPackage resolves linux-image-amd64 to its versioned package,
// running apt-get update once if the package lists are missing.
func kernelPackage(ctx context.Context) (string, error) {
	resolve := func() string {
		out, _ := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
		if m := kernelPkgRE.FindSubmatch(out); m != nil {
			return string(m[1])
		}
		return ""
	}
	if p := resolve(); p != "" {
		return p, nil
	}
	if out, err := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get update: %w\n%s", err, out)
	}
	if p := resolve(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image-*-amd64 package")
}

// lock takes an exclusive lock on dir/.lock so parallel runs share the cache.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// PrepareKernel fetches and unpacks Debian's current amd64 kernel into
// cache (once; later calls reuse it).
func PrepareKernel(ctx context.Context, cache string) (Kernel, error) {
	pkg, err := kernelPackage(ctx)
	if err != nil {
		return Kernel{}, err
	}
	ver := strings.TrimPrefix(pkg, "linux-image-")
	k := Kernel{Version: ver, Root: filepath.Join(cache, "kernel-"+ver)}
	k.Image = filepath.Join(k.Root, "boot", "vmlinuz-"+ver)
	unlock, err := lock(cache)
	if err != nil {
		return k, err
	}
	defer unlock()
	if ready(k) {
		return k, nil
	}
	tmp, err := os.MkdirTemp(cache, "fetch-")
	if err != nil {
		return k, err
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		return k, fmt.Errorf("apt-get download %s: %w\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return k, fmt.Errorf("apt-get download %s left %d .deb files in %s", pkg, len(debs), tmp)
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return k, fmt.Errorf("dpkg-deb -x %s: %w\n%s", debs[0], err, out)
	}
	if out, err := exec.CommandContext(ctx, "depmod", "-b", root, ver).CombinedOutput(); err != nil {
		return k, fmt.Errorf("depmod for %s: %w\n%s", ver, err, out)
	}
	os.RemoveAll(k.Root)
	if err := os.Rename(root, k.Root); err != nil {
		return k, err
	}
	if !ready(k) {
		return k, fmt.Errorf("kernel package %s has no %s or modules.dep", pkg, k.Image)
	}
	return k, nil
}

func ready(k Kernel) bool {
	st, err := os.Stat(filepath.Join(k.Root, "lib/modules", k.Version, "modules.dep"))
	if err != nil || st.Size() == 0 {
		return false
	}
	_, err = os.Stat(k.Image)
	return err == nil
}

// moduleFiles lists the module files (dependencies first) that mods need.
func moduleFiles(ctx context.Context, k Kernel, mods ...string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	for _, m := range mods {
		// One module per call: extra arguments would be its parameters.
		out, err := exec.CommandContext(ctx, "modprobe", "-d", k.Root, "-S", k.Version, "--show-depends", m).Output()
		if err != nil {
			return nil, fmt.Errorf("modprobe --show-depends %s for %s: %w", m, k.Version, err)
		}
		for _, line := range bytes.Split(out, []byte("\n")) {
			f := strings.Fields(string(line))
			if len(f) >= 2 && f[0] == "insmod" && !seen[f[1]] {
				seen[f[1]] = true
				files = append(files, f[1])
			}
		}
	}
	return files, nil
}
