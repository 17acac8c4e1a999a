package xfrm

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"

	"github.com/oemesh/oemesh/kernel"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
)

// Probe finds out whether this kernel can carry ESP: in a fresh temporary
// network namespace (so the host sees nothing) it installs a throwaway SA
// for each AEAD over IPv4 and IPv6. Usable means at least AES-GCM works on
// both families. Reason names what failed, with the kernel's own message.
func Probe() kernel.Capability {
	nl.EnableErrorMessageReporting = true
	c := kernel.Capability{Backend: kernel.BackendXFRM}
	res := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends in the temporary namespace and
		// the runtime discards it with this goroutine.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			res <- fmt.Errorf("cannot create a namespace to probe in: %w", err)
			return
		}
		defer ns.Close()
		res <- probeHere(&c)
	}()
	if err := <-res; err != nil {
		c.Usable = false
		c.Reason = "kernel XFRM probe failed: " + err.Error()
		return c
	}
	return c
}

// probeHere installs and deletes the throwaway SAs in the current thread's
// namespace.
func probeHere(c *kernel.Capability) error {
	e := &executor{} // run requests inline: this thread is already in place
	type try struct {
		aead     kernel.AEAD
		key      int
		src, dst string
	}
	var failures []string
	ok := map[kernel.AEAD]int{}
	for i, t := range []try{
		{kernel.AESGCM16, 36, "192.0.2.1", "192.0.2.2"},
		{kernel.AESGCM16, 36, "2001:db8::1", "2001:db8::2"},
		{kernel.ChaCha20Poly1305, 36, "192.0.2.1", "192.0.2.2"},
		{kernel.ChaCha20Poly1305, 36, "2001:db8::1", "2001:db8::2"},
	} {
		s := state{Src: netip.MustParseAddr(t.src), Dst: netip.MustParseAddr(t.dst), SPI: 0x1000 + uint32(i),
			Mode: modeTransport, AEAD: t.aead, Key: make([]byte, t.key), Replay: 32}
		if err := e.putState(s, false); err != nil {
			failures = append(failures, fmt.Sprintf("%s over IPv%d: %v", t.aead, map[bool]int{true: 4, false: 6}[s.Dst.Is4()], err))
			continue
		}
		ok[t.aead]++
	}
	for _, a := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
		if ok[a] == 2 {
			c.AEADs = append(c.AEADs, a)
		}
	}
	c.Usable = ok[kernel.AESGCM16] == 2
	switch {
	case c.Usable && len(failures) == 0:
		c.Reason = "kernel installs ESP SAs (esp4, esp6) with aes-gcm-16 and chacha20-poly1305"
	case c.Usable:
		c.Reason = "kernel installs ESP SAs with aes-gcm-16; not: " + strings.Join(failures, "; ")
	default:
		c.Reason = "kernel cannot install ESP SAs: " + strings.Join(failures, "; ")
	}
	return nil
}
