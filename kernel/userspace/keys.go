package userspace

import (
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
)

// ESPKeys lists both SAs of every installed pair with its key (the
// cipher key with its 4-octet salt at the end, as installed), for `oemesh
// debug keys`: the pairs keep their keys anyway (an idle direction drops
// its cipher state, not its key), so the daemon need not keep a copy of
// every key beside them (issue 21: heap per peer).
func (d *Device) ESPKeys() []kernel.SA {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]kernel.SA, 0, 2*len(d.pairs))
	for _, p := range d.pairs {
		out = append(out,
			p.out.espCipher.sa(p.out.src, p.out.dst),
			p.in.espCipher.sa(p.out.dst, p.out.src))
	}
	return out
}

// sa is the SA of c from src to dst, with a copy of its key.
func (c *espCipher) sa(src, dst netip.Addr) kernel.SA {
	key := make([]byte, 0, int(c.keyLen)+saltLen)
	key = append(append(key, c.key()...), c.salt[:]...)
	return kernel.SA{SPI: c.spi, Src: src, Dst: dst, AEAD: c.alg, Key: key, ESN: c.esn}
}
