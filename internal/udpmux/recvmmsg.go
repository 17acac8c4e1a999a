package udpmux

import (
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobLen is the control-message space of one datagram: an IP_PKTINFO or
// IPV6_PKTINFO message (28 or 36 octets with its header) fits.
const oobLen = 64

// batch is the memory of one recvmmsg call: per datagram a header, a
// source address, control-message space and two iovecs, the slot's
// pooled buffer and then the socket's overflow buffer. It is built once
// per socket; only the buffers change, when the sink takes one.
type batch struct {
	bufs     [][]byte // one pooled buffer per slot
	iovs     []unix.Iovec
	names    []unix.RawSockaddrInet6 // large enough for IPv4 too
	oob      []byte
	hdrs     []unix.Mmsghdr
	overflow []byte
	// perSlot gives every slot its own overflow, overflow[i*ovLen:]
	// (UDP_GRO: a coalesced run fills it in every slot at once).
	perSlot bool

	// results of the last read, set by readFn
	n     int
	errno unix.Errno
	// readFn is the syscall.RawConn.Read callback, made once: a closure
	// made per read would allocate.
	readFn func(fd uintptr) bool
}

func newBatch(n int, p *pool, perSlot bool) *batch {
	ov := ovLen
	if perSlot {
		ov *= n
	}
	b := &batch{
		bufs:     make([][]byte, n),
		iovs:     make([]unix.Iovec, 2*n),
		names:    make([]unix.RawSockaddrInet6, n),
		oob:      make([]byte, n*oobLen),
		hdrs:     make([]unix.Mmsghdr, n),
		overflow: make([]byte, ov),
		perSlot:  perSlot,
	}
	for i := range b.bufs {
		b.bufs[i] = p.get()
	}
	b.readFn = b.recvmmsg
	return b
}

// reset prepares every slot for the next read.
func (b *batch) reset() {
	for i := range b.hdrs {
		iov := b.iovs[2*i : 2*i+2]
		iov[0].Base = &b.bufs[i][Headroom]
		iov[0].SetLen(PayloadSize)
		ov := b.overflowOf(i)
		iov[1].Base = &ov[0]
		iov[1].SetLen(len(ov))
		h := &b.hdrs[i]
		h.Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Iov = &iov[0]
		h.Hdr.SetIovlen(2)
		h.Hdr.Control = &b.oob[i*oobLen]
		h.Hdr.SetControllen(oobLen)
		h.Hdr.Flags = 0
		h.Len = 0
	}
}

// recvmmsg reads what the socket has queued, up to len(hdrs) datagrams,
// without blocking; false (EAGAIN) makes the runtime wait until the
// socket is readable and call again.
func (b *batch) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.n, b.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			b.n, b.errno = 0, e
			return true
		}
	}
}

// ovLen is one overflow buffer: the part of the largest datagram that
// does not fit a pooled buffer.
const ovLen = maxDatagram - PayloadSize

// overflowOf is slot i's overflow buffer: its own, or the shared one.
func (b *batch) overflowOf(i int) []byte {
	if b.perSlot {
		return b.overflow[i*ovLen : (i+1)*ovLen]
	}
	return b.overflow
}

// size is the length of datagram i of the last read.
func (b *batch) size(i int) int { return int(b.hdrs[i].Len) }

// remote is the source address of datagram i.
func (b *batch) remote(i int) netip.AddrPort {
	return sockaddrAddrPort(&b.names[i], b.hdrs[i].Hdr.Namelen)
}

// control is the control-message data of datagram i.
func (b *batch) control(i int) []byte {
	n := min(int(b.hdrs[i].Hdr.Controllen), oobLen)
	return b.oob[i*oobLen : i*oobLen+n]
}

// sockaddrAddrPort reads a sockaddr_in or sockaddr_in6 of length n. A
// v4-mapped IPv6 address is unmapped; a link-local one gets its scope as
// a numeric zone, so that a reply finds its interface.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) netip.AddrPort {
	port := func(p *uint16) uint16 { // network byte order in memory
		b := (*[2]byte)(unsafe.Pointer(p))
		return uint16(b[0])<<8 | uint16(b[1])
	}
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(&sa4.Port))
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, port(&sa.Port))
	}
	return netip.AddrPort{}
}

// pktinfoDst returns the destination address of a datagram from its
// IP_PKTINFO or IPV6_PKTINFO control message. It allocates nothing.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return netip.Addr{}, false
		}
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex(4) spec_dst(4) addr(4); addr is the header destination.
			return netip.AddrFrom4([4]byte(data[8:12])), true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(data[0:16])), true
		}
		oob = rest
	}
	return netip.Addr{}, false
}
