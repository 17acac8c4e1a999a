package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/oemesh/oemesh/internal/logtest"
)

// Options tune a VM run. Zero values take the defaults.
type Options struct {
	Cache   string        // DefaultCache
	MemMB   int           // 1024
	CPUs    int           // 2
	Accel   string        // "kvm", "tcg" or "" (kvm when /dev/kvm works, else tcg)
	Timeout time.Duration // 10 minutes
	Console io.Writer     // also gets the serial console as it comes
}

// Result is what a run gave.
type Result struct {
	RC      int    // the script's exit status
	Console string // the serial console
	Accel   string // the accelerator that ran it
	Kernel  string // the guest kernel version
	Wall    time.Duration
}

var rcRE = regexp.MustCompile(`OEMESH-VM-RC=(\d+)`)

// stage2Deadline is how long a KVM boot may take to reach the script.
const stage2Deadline = 45 * time.Second

// kvmUsable says whether qemu can use KVM here for a stock kernel. A
// kvm_pvm host (pagetable-based virtual machine, as on some cloud VMs) has a
// /dev/kvm, but runs only guest kernels built for PVM: Debian's hangs
// before its first console line.
func kvmUsable() bool {
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Run boots Debian's kernel and runs script with /bin/sh inside. files are
// copied into the io share first (name in the share → host path); in the
// guest the share is /tmp/io, which is also the script's working
// directory. The host root is the guest's root, read-only.
func Run(ctx context.Context, opts Options, script string, files map[string]string) (Result, error) {
	if opts.Cache == "" {
		opts.Cache = DefaultCache
	}
	if opts.MemMB == 0 {
		opts.MemMB = 1024
	}
	if opts.CPUs == 0 {
		opts.CPUs = 2
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return Result{}, fmt.Errorf("qemu-system-x86_64 (Debian package qemu-system-x86) not found: %w", err)
	}
	k, err := PrepareKernel(ctx, opts.Cache)
	if err != nil {
		return Result{}, fmt.Errorf("guest kernel: %w", err)
	}
	initrd, err := BuildInitramfs(ctx, opts.Cache, k)
	if err != nil {
		return Result{}, fmt.Errorf("initramfs: %w", err)
	}
	share, err := os.MkdirTemp(opts.Cache, "run-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(share)
	for name, src := range files {
		if err := copyFile(src, filepath.Join(share, name), 0o755); err != nil {
			return Result{}, fmt.Errorf("copy %s into the VM share: %w", src, err)
		}
	}
	if err := os.WriteFile(filepath.Join(share, "run.sh"), []byte("cd /tmp/io || exit 125\n"+script+"\n"), 0o755); err != nil {
		return Result{}, err
	}
	accels := []string{opts.Accel}
	if opts.Accel == "" {
		accels = []string{"tcg"}
		if kvmUsable() {
			accels = []string{"kvm", "tcg"}
		}
	}
	var res Result
	for _, accel := range accels {
		res, err = boot(ctx, opts, k, initrd, share, accel)
		if err == nil || strings.Contains(res.Console, "OEMESH-VM-STAGE2") {
			break // the guest ran: its failure is the test's, not the accelerator's
		}
	}
	return res, err
}

func boot(ctx context.Context, opts Options, k Kernel, initrd, share, accel string) (Result, error) {
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	args := []string{
		"-nographic", "-no-reboot", "-nic", "none",
		"-accel", accel, "-cpu", cpu,
		"-m", strconv.Itoa(opts.MemMB), "-smp", strconv.Itoa(opts.CPUs),
		"-kernel", k.Image, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + share + ",mount_tag=io,security_model=none",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	var console logtest.Buffer
	var w io.Writer = &console
	if opts.Console != nil {
		w = io.MultiWriter(&console, opts.Console)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{Accel: accel, Kernel: k.Version, RC: -1}, fmt.Errorf("qemu (%s): %w", accel, err)
	}
	// KVM that cannot run this kernel shows as silence: give up on it
	// quickly so the caller can fall back to TCG.
	stalled := make(chan struct{})
	if accel == "kvm" {
		watch := time.AfterFunc(stage2Deadline, func() {
			if !strings.Contains(console.String(), "OEMESH-VM-STAGE2") {
				close(stalled)
				cancel()
			}
		})
		defer watch.Stop()
	}
	err := cmd.Wait()
	res := Result{Console: console.String(), Accel: accel, Kernel: k.Version, Wall: time.Since(start), RC: -1}
	select {
	case <-stalled:
		return res, fmt.Errorf("VM (%s): the guest did not reach its script within %v", accel, stage2Deadline)
	default:
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("VM (%s) timed out after %v", accel, opts.Timeout)
	}
	if err != nil {
		return res, fmt.Errorf("qemu (%s): %w", accel, err)
	}
	b, rerr := os.ReadFile(filepath.Join(share, "rc"))
	if rerr != nil {
		if m := rcRE.FindStringSubmatch(res.Console); m != nil {
			b = []byte(m[1])
		} else {
			return res, errors.New("the guest wrote no exit status: it did not reach the test script")
		}
	}
	res.RC, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return res, fmt.Errorf("guest exit status %q: %w", b, err)
	}
	return res, nil
}
