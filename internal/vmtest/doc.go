// Package vmtest boots Debian's stock Linux kernel under qemu and runs test
// binaries inside it, for what this machine's own kernel cannot do (ESP).
//
// The guest's root file system is the host's, shared read-only over 9p
// (cache=loose); a hand-made busybox initramfs loads the 9p modules,
// switch_roots into the host root and runs a script from a read-write 9p
// share, which also carries results back. The kernel .deb is fetched with
// `apt-get download` and unpacked into a cache under /var/tmp, so /boot and
// the host's packages are untouched. KVM is used when /dev/kvm works, TCG
// otherwise. How to run it, what it costs and what it needs: README.md in
// this directory.
//
// Why qemu rather than user-mode-linux: Debian ships a stock amd64 kernel
// with esp4/esp6 and the AEAD modules that every user runs; UML needs a
// kernel built for it, and would test a different build with its own
// networking quirks.
//
// Only tests import it. It imports nothing of oemesh.
package vmtest
