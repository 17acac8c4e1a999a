package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"github.com/oemesh/oemesh/ike"
)

// nullDataplane is the CHILD SA installer of `oemesh probe` and `oemesh
// respond`: it hands out SPIs and remembers what it was asked to install,
// but touches no kernel state, so the tools run anywhere (also on a kernel
// without ESP) and leave nothing behind.
type nullDataplane struct {
	mu        sync.Mutex
	allocated map[uint32]bool
	installed map[uint32]ike.ChildSA
}

func newNullDataplane() *nullDataplane {
	return &nullDataplane{allocated: map[uint32]bool{}, installed: map[uint32]ike.ChildSA{}}
}

// AllocSPI returns a random SPI not yet handed out. SPIs 1-255 are
// reserved by IANA (RFC 4303 §2.1) and 0 means none.
func (d *nullDataplane) AllocSPI(_ context.Context, _, _ netip.Addr) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b [4]byte
	for range 64 {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("null data plane: SPI: %w", err)
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi < 256 || d.allocated[spi] {
			continue
		}
		d.allocated[spi] = true
		return spi, nil
	}
	return 0, fmt.Errorf("null data plane: no free SPI after 64 tries")
}

// Install records sa; nothing reaches the kernel.
func (d *nullDataplane) Install(_ context.Context, sa ike.ChildSA) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.allocated[sa.SPIIn] {
		return fmt.Errorf("null data plane: install of inbound SPI %08x that was never allocated", sa.SPIIn)
	}
	d.installed[sa.SPIIn] = sa
	return nil
}

// Delete forgets sa and frees its SPI.
func (d *nullDataplane) Delete(_ context.Context, sa ike.ChildSA) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.installed, sa.SPIIn)
	delete(d.allocated, sa.SPIIn)
	return nil
}

// Installed returns how many CHILD SAs are recorded as installed.
func (d *nullDataplane) Installed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.installed)
}

var _ ike.ChildInstaller = (*nullDataplane)(nil)
