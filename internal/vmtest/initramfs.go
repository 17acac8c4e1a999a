package vmtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// initScript is /init in the initramfs: load the 9p modules, mount the host
// root read-only with cache=loose (without it every exec is a 9p round trip
// and TCG runs are several times slower), put tmpfs on /tmp and /run, mount
// the rw io share on /tmp/io and switch_root. switch_root, not chroot: the
// kernel's request_module must find a modprobe in the real root
// (/proc/sys/kernel/modprobe points at a wrapper that reads the unpacked
// kernel's modules).
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
while read m; do insmod /mods/$m || echo "oemesh-vm: insmod $m failed"; done < /mods/order
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot; then
	echo "oemesh-vm: mounting the host root over 9p failed"; poweroff -f
fi
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=755 tmpfs /newroot/run
mkdir -p /newroot/tmp/io
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 io /newroot/tmp/io || echo "oemesh-vm: mounting the io share failed"
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
cp /bin/busybox /newroot/run/busybox
printf '#!/run/busybox sh\nexec %s -d %s "$@"\n' "$(cat /modprobe-bin)" "$(cat /kroot)" > /newroot/run/modprobe
cat > /newroot/run/stage2 <<'EOS'
#!/run/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TERM=dumb
mkdir -p /dev/pts /dev/shm /run/netns; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
echo /run/modprobe > /proc/sys/kernel/modprobe
echo "OEMESH-VM-STAGE2 uptime=$(cut -d' ' -f1 /proc/uptime)"
/bin/sh /tmp/io/run.sh; rc=$?
echo "OEMESH-VM-RC=$rc"; echo $rc > /tmp/io/rc
/run/busybox sync; /run/busybox poweroff -f
EOS
chmod +x /newroot/run/stage2 /newroot/run/modprobe
exec switch_root /newroot /run/stage2
`

// initModules are what the initramfs needs to mount 9p over virtio; all
// are modules in Debian's kernel. Everything else loads from the host root.
var initModules = []string{"virtio_pci", "9pnet_virtio", "9p"}

// BuildInitramfs writes (once per kernel) a gzip'd newc initramfs with
// busybox, the 9p modules and /init, and returns its path.
func BuildInitramfs(ctx context.Context, cache string, k Kernel) (string, error) {
	out := filepath.Join(cache, "initrd-"+k.Version+".cpio.gz")
	unlock, err := lock(cache)
	if err != nil {
		return "", err
	}
	defer unlock()
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox (Debian package busybox-static) not found: %w", err)
	}
	modprobe, err := exec.LookPath("modprobe")
	if err != nil {
		return "", fmt.Errorf("modprobe (Debian package kmod) not found: %w", err)
	}
	dir, err := os.MkdirTemp(cache, "initramfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"bin", "dev", "proc", "sys", "newroot", "mods"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := copyFile(busybox, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return "", err
	}
	files, err := moduleFiles(ctx, k, initModules...)
	if err != nil {
		return "", err
	}
	var order []string
	for _, f := range files {
		base := filepath.Base(f)
		dst := filepath.Join(dir, "mods", strings.TrimSuffix(strings.TrimSuffix(base, ".xz"), ".zst"))
		switch {
		case strings.HasSuffix(f, ".ko"):
			err = copyFile(f, dst, 0o644)
		case strings.HasSuffix(f, ".ko.xz"):
			err = decompress(ctx, dst, "xz", "-dc", f)
		case strings.HasSuffix(f, ".ko.zst"):
			err = decompress(ctx, dst, "zstd", "-qdc", f)
		default:
			err = fmt.Errorf("module %s: unknown compression", f)
		}
		if err != nil {
			return "", err
		}
		order = append(order, filepath.Base(dst))
	}
	for name, content := range map[string]string{
		"init":         initScript,
		"mods/order":   strings.Join(order, "\n") + "\n",
		"modprobe-bin": modprobe,
		"kroot":        k.Root,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			return "", err
		}
	}
	cpio := exec.CommandContext(ctx, "sh", "-c", "find . | cpio -o -H newc --quiet")
	cpio.Dir = dir
	var archive, stderr bytes.Buffer
	cpio.Stdout, cpio.Stderr = &archive, &stderr
	if err := cpio.Run(); err != nil {
		return "", fmt.Errorf("cpio (Debian package cpio): %w: %s", err, stderr.String())
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(archive.Bytes())
	zw.Close()
	if err := os.WriteFile(out+".tmp", gz.Bytes(), 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(out+".tmp", out)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func decompress(ctx context.Context, dst string, tool string, args ...string) error {
	out, err := exec.CommandContext(ctx, tool, args...).Output()
	if err != nil {
		return fmt.Errorf("%s %s: %w", tool, strings.Join(args, " "), err)
	}
	return os.WriteFile(dst, out, 0o644)
}
