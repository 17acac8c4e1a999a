package userspace

import "fmt"

// Techniques switches off, one at a time, the techniques that make the
// data path fast, so that bench/usthroughput -steps can measure what each
// gains (bench/README.md, "ESP at line rate"). The zero value is every
// technique on, which is what a daemon runs; the configuration file has
// no key for it. Config.NoOffloads (the TUN device's virtio-net header)
// and Config.Workers (1: no crypto workers) are the other two switches.
type Techniques struct {
	// NoUDPGSO sends ESP-in-UDP one datagram per message on the device's
	// own sockets, never a run with UDP_SEGMENT.
	NoUDPGSO bool
	// NoUDPGRO leaves UDP_GRO off on the device's own ESP-in-UDP sockets:
	// the kernel hands over one datagram per message.
	NoUDPGRO bool
	// Batch is the most messages one recvmmsg or sendmmsg carries on the
	// ESP sockets (default socketBatch, 64; 1 is one packet per system
	// call). The TUN device's batches are its own: they come with its
	// offloads (NoOffloads).
	Batch int
	// NoInlineCrypto hands every batch to the workers, even one of a lone
	// packet, instead of sealing or opening the small ones (up to
	// inlineCryptoMax) on the goroutine that read them.
	NoInlineCrypto bool
	// SmallSocketBuffers leaves the ESP sockets' queues at what
	// SO_RCVBUF and SO_SNDBUF give (capped by net.core.rmem_max and
	// wmem_max), without forcing them to socketBufferSize.
	SmallSocketBuffers bool
	// SmallGROHeads leaves each run of one flow written to the TUN device
	// in the small buffers its packets were opened in, so that the TUN
	// device's GRO coalesces about 9 KiB per write instead of up to
	// 64 KiB (tungro.go).
	SmallGROHeads bool
}

func (t *Techniques) withDefaults() (Techniques, error) {
	o := *t
	if o.Batch == 0 {
		o.Batch = socketBatch
	}
	if o.Batch < 1 || o.Batch > socketBatch {
		return o, fmt.Errorf("userspace: Techniques.Batch %d out of range [1, %d]", o.Batch, socketBatch)
	}
	return o, nil
}

// inlineMax is the largest batch sealed or opened by the goroutine that
// read it: inlineCryptoMax, every batch when there are no workers, none
// when Techniques.NoInlineCrypto says so.
func (d *Device) inlineMax() int {
	switch {
	case d.noWorkers:
		return int(^uint(0) >> 1)
	case d.cfg.Techniques.NoInlineCrypto:
		return 0
	}
	return inlineCryptoMax
}
