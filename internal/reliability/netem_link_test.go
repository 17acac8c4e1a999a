package reliability

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/oemesh/oemesh/internal/lab"
)

// impairment is what the lossy link does to each IP packet from one host
// to another, as `tc qdisc add dev eth0 root netem loss L delay D J` on
// the sender's interface would: drop it with probability loss, otherwise
// hold it delay ± jitter (uniform), so that packets sent closer together
// than the jitter overtake each other.
//
// The development box's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is
// off), so the link is impaired in user space: a relay in the switch's
// namespace, in place of the bridge for the sender's port. Only packets
// from the sender to the one peer are impaired (netem with a filter on
// the destination): the DNS look-ups and the replies in the other
// direction go through unchanged.
type impairment struct {
	loss          float64
	delay, jitter time.Duration
	// dropRetransmits drops every IKE datagram (UDP 500 or 4500, not
	// ESP) that repeats one already relayed byte for byte: a
	// retransmitted request, or a response sent again for one. It stands
	// for an IKE stack without retransmissions (the defence switched
	// off), which oemeshd cannot be configured to be.
	dropRetransmits bool
}

func (im impairment) String() string {
	s := fmt.Sprintf("loss %.0f%%", im.loss*100)
	if im.delay > 0 || im.jitter > 0 {
		s += fmt.Sprintf(", delay %v ± %v", im.delay, im.jitter)
	}
	if im.dropRetransmits {
		s += ", IKE retransmissions dropped"
	}
	return s
}

// lossyLink relays frames between a host's switch port, taken off the
// bridge, and a veth pair whose other end is on the bridge in its place.
type lossyLink struct {
	im       impairment
	src, dst netip.Addr // the impaired direction
	port, br int        // AF_PACKET sockets on the host's port and on the relay's bridge side
	stop     chan struct{}
	wg       sync.WaitGroup
	rand     *rand.Rand
	randMu   sync.Mutex
	seenIKE  map[[32]byte]bool
	fdMu     sync.RWMutex
	closed   bool // the sockets are closed: delayed packets go nowhere

	impaired, lost, retransmitsDropped, sendErrs atomic.Int64
	// reordered counts impaired packets sent on after one that arrived
	// later than they did; arrived and lastOut number them.
	reordered, arrived, lastOut atomic.Int64
}

// impairLink puts a lossy link between host's port on the switch and the
// bridge, impairing what host sends to peer; close removes it and
// puts the port back on the bridge.
func impairLink(m *lab.Mesh, host, peer string, im impairment) (*lossyLink, error) {
	sw := m.Sw
	nl := sw.Netlink()
	port, err := nl.LinkByName(host)
	if err != nil {
		return nil, fmt.Errorf("%s's port on the switch: %w", host, err)
	}
	br, err := nl.LinkByName("br0")
	if err != nil {
		return nil, fmt.Errorf("the switch's bridge: %w", err)
	}
	relay := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "imp-" + host}, PeerName: "impb-" + host}
	if err := nl.LinkAdd(relay); err != nil {
		return nil, fmt.Errorf("the relay's veth: %w", err)
	}
	brSide, err := nl.LinkByName("impb-" + host)
	if err != nil {
		return nil, err
	}
	relaySide, err := nl.LinkByName("imp-" + host)
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{
		func() error { return nl.LinkSetMaster(brSide, br.(*netlink.Bridge)) },
		func() error { return nl.LinkSetUp(brSide) },
		func() error { return nl.LinkSetUp(relaySide) },
		func() error { return nl.LinkSetNoMaster(port) },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("wiring the relay for %s: %w", host, err)
		}
	}
	l := &lossyLink{im: im, src: m.Hosts[host].Addr4, dst: m.Hosts[peer].Addr4, stop: make(chan struct{}),
		rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4322)), seenIKE: map[[32]byte]bool{}}
	err = sw.Do(func() error {
		var err error
		if l.port, err = packetSocket(port.Attrs().Index); err != nil {
			return err
		}
		l.br, err = packetSocket(relaySide.Attrs().Index)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("the relay's sockets: %w", err)
	}
	l.wg.Add(2)
	go l.relay(l.port, l.br, true)
	go l.relay(l.br, l.port, false)
	return l, nil
}

// close stops the relay. The mesh's removal takes the veth and the port.
func (l *lossyLink) close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	l.wg.Wait()
	// Delayed packets still pending send under the read lock: none may
	// write to a closed (or reused) descriptor.
	l.fdMu.Lock()
	l.closed = true
	unix.Close(l.port)
	unix.Close(l.br)
	l.fdMu.Unlock()
}

func packetSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	// With the virtio-net header a UDP GSO run (ESP-in-UDP sent with
	// UDP_SEGMENT, which crosses a veth uncut) comes with its segment
	// size, so the relay can cut it into the datagrams a real link
	// would carry (splitUDPGSO) and lose or delay each on its own.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// relay copies frames from one socket to the other, impairing those of
// the impaired direction when forward is true.
func (l *lossyLink) relay(from, to int, forward bool) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		n, sa, err := unix.Recvfrom(from, buf, 0)
		if err != nil {
			continue // the timeout: look at stop again
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // what we sent ourselves
		}
		if n < vnetHdrLen {
			continue
		}
		for _, frame := range splitUDPGSO(buf[:vnetHdrLen], buf[vnetHdrLen:n]) {
			l.pass(to, frame, forward)
		}
	}
}

// pass sends one frame on, impairing it when forward is true and it is
// one of the impaired direction's.
func (l *lossyLink) pass(to int, frame []byte, forward bool) {
	// Veth hands locally sent UDP and TCP over with the checksum left
	// to the hardware; a frame copied through a packet socket must
	// carry it.
	fixChecksum(frame)
	if !forward || !l.impairs(frame) {
		l.send(to, frame)
		return
	}
	l.impaired.Add(1)
	if l.im.dropRetransmits && l.repeatedIKE(frame) {
		l.retransmitsDropped.Add(1)
		return
	}
	l.randMu.Lock()
	lost := l.rand.Float64() < l.im.loss
	wait := l.im.delay
	if l.im.jitter > 0 {
		wait += time.Duration(l.rand.Int64N(int64(2*l.im.jitter))) - l.im.jitter
	}
	l.randMu.Unlock()
	if lost {
		l.lost.Add(1)
		return
	}
	seq := l.arrived.Add(1)
	if wait <= 0 {
		l.sendImpaired(to, frame, seq)
		return
	}
	time.AfterFunc(wait, func() { l.sendImpaired(to, frame, seq) })
}

// vnetHdrLen is the virtio-net header in front of every frame read from
// and written to the relay's packet sockets (PACKET_VNET_HDR).
const vnetHdrLen = 10

// splitUDPGSO returns the frames of one frame read with its virtio-net
// header hdr, each a copy: an IPv4 UDP GSO run (gso_type UDP_L4) cut into
// its datagrams of gso_size payload octets each (the last may be
// shorter), with their IPv4 identification, lengths and header checksum
// as the kernel's segmentation writes them (the UDP checksum is left to
// fixChecksum); any other frame as it is.
func splitUDPGSO(hdr, frame []byte) [][]byte {
	gsoType, gsoSize := hdr[1], int(binary.NativeEndian.Uint16(hdr[4:6]))
	if gsoType != unix.VIRTIO_NET_HDR_GSO_UDP_L4 || gsoSize == 0 || len(frame) < 14+20 ||
		binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return [][]byte{append([]byte(nil), frame...)}
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+8 || ip[9] != unix.IPPROTO_UDP {
		return [][]byte{append([]byte(nil), frame...)}
	}
	head := 14 + ihl + 8
	payload := frame[head:]
	id := binary.BigEndian.Uint16(ip[4:6])
	var out [][]byte
	for i := 0; len(payload) > 0; i++ {
		n := min(gsoSize, len(payload))
		seg := make([]byte, head+n)
		copy(seg, frame[:head])
		copy(seg[head:], payload[:n])
		payload = payload[n:]
		sip := seg[14:]
		binary.BigEndian.PutUint16(sip[2:4], uint16(ihl+8+n))
		binary.BigEndian.PutUint16(sip[4:6], id+uint16(i))
		binary.BigEndian.PutUint16(sip[ihl+4:ihl+6], uint16(8+n))
		sip[10], sip[11] = 0, 0
		var sum uint32
		for k := 0; k < ihl; k += 2 {
			sum += uint32(binary.BigEndian.Uint16(sip[k:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(sip[10:12], ^uint16(sum))
		out = append(out, seg)
	}
	return out
}

// sendImpaired sends the seq'th impaired packet to arrive, counting it as
// reordered when a later one went before it.
func (l *lossyLink) sendImpaired(fd int, frame []byte, seq int64) {
	for {
		last := l.lastOut.Load()
		if seq < last {
			l.reordered.Add(1)
			break
		}
		if l.lastOut.CompareAndSwap(last, seq) {
			break
		}
	}
	l.send(fd, frame)
}

func (l *lossyLink) send(fd int, frame []byte) {
	l.fdMu.RLock()
	defer l.fdMu.RUnlock()
	if l.closed {
		return
	}
	// A zero virtio-net header: a plain frame, its checksums complete.
	var hdr [vnetHdrLen]byte
	if _, err := unix.Writev(fd, [][]byte{hdr[:], frame}); err != nil {
		l.sendErrs.Add(1)
	}
}

// impairs reports whether frame is an IPv4 packet from src to dst.
func (l *lossyLink) impairs(frame []byte) bool {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return false
	}
	ip := frame[14:]
	return netip.AddrFrom4([4]byte(ip[12:16])) == l.src && netip.AddrFrom4([4]byte(ip[16:20])) == l.dst
}

// repeatedIKE reports whether frame is an IKE datagram that was relayed
// before, byte for byte, and remembers it otherwise.
func (l *lossyLink) repeatedIKE(frame []byte) bool {
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return false
	}
	udp := ip[ihl:]
	dport := binary.BigEndian.Uint16(udp[2:4])
	body := udp[8:]
	switch {
	case dport == 500:
	case dport == 4500 && len(body) >= 4 && binary.BigEndian.Uint32(body[:4]) == 0:
	default:
		return false
	}
	h := sha256.Sum256(body)
	l.randMu.Lock()
	defer l.randMu.Unlock()
	if l.seenIKE[h] {
		return true
	}
	l.seenIKE[h] = true
	return false
}

// fixChecksum writes the UDP or TCP checksum of an unfragmented IPv4 or
// IPv6 packet in an Ethernet frame.
func fixChecksum(frame []byte) {
	if len(frame) < 14 {
		return
	}
	p := frame[14:]
	var src, dst, l4 []byte
	var proto byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		if len(p) < 20 {
			return
		}
		ihl, total := int(p[0]&0x0f)*4, int(binary.BigEndian.Uint16(p[2:4]))
		if binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 || ihl < 20 || total > len(p) || total < ihl {
			return // a fragment, or truncated
		}
		src, dst, proto, l4 = p[12:16], p[16:20], p[9], p[ihl:total]
	case 0x86DD:
		if len(p) < 40 {
			return
		}
		plen := int(binary.BigEndian.Uint16(p[4:6]))
		if 40+plen > len(p) {
			return
		}
		src, dst, proto, l4 = p[8:24], p[24:40], p[6], p[40:40+plen]
	default:
		return
	}
	off := 0
	switch {
	case proto == unix.IPPROTO_UDP && len(l4) >= 8:
		off = 6
		if len(src) == 4 && binary.BigEndian.Uint16(l4[6:8]) == 0 {
			return // IPv4 UDP without a checksum
		}
	case proto == unix.IPPROTO_TCP && len(l4) >= 20:
		off = 16
	default:
		return
	}
	l4[off], l4[off+1] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	sum += uint32(proto) + uint32(len(l4))
	add(l4)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	cs := ^uint16(sum)
	if cs == 0 && proto == unix.IPPROTO_UDP {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], cs)
}

// TestSplitUDPGSO: an IPv4 UDP GSO run read with its virtio-net header is
// cut into datagrams of the segment size (the last shorter), each with
// its own length, identification and a valid IPv4 header checksum; any
// other frame is passed as it is.
func TestSplitUDPGSO(t *testing.T) {
	const seg = 100
	payload := make([]byte, 3*seg+37)
	for i := range payload {
		payload[i] = byte(i)
	}
	frame := make([]byte, 14+20+8, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(frame[12:14], 0x0800)
	ip := frame[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[4:6], 0xfffe) // the identification wraps
	copy(ip[12:16], []byte{192, 0, 2, 1})
	copy(ip[16:20], []byte{192, 0, 2, 2})
	binary.BigEndian.PutUint16(ip[20:22], 4500)
	binary.BigEndian.PutUint16(ip[22:24], 4500)
	frame = append(frame, payload...)
	hdr := make([]byte, vnetHdrLen)
	hdr[1] = unix.VIRTIO_NET_HDR_GSO_UDP_L4
	binary.NativeEndian.PutUint16(hdr[4:6], seg)

	got := splitUDPGSO(hdr, frame)
	if len(got) != 4 {
		t.Fatalf("%d datagrams, want 4", len(got))
	}
	var joined []byte
	for i, f := range got {
		sip := f[14:]
		n := min(seg, len(payload)-i*seg)
		if l := int(binary.BigEndian.Uint16(sip[2:4])); l != 28+n || len(f) != 14+28+n {
			t.Errorf("datagram %d: IP length %d, frame %d; want %d, %d", i, l, len(f), 28+n, 14+28+n)
		}
		if l := int(binary.BigEndian.Uint16(sip[24:26])); l != 8+n {
			t.Errorf("datagram %d: UDP length %d, want %d", i, l, 8+n)
		}
		if id := binary.BigEndian.Uint16(sip[4:6]); id != 0xfffe+uint16(i) {
			t.Errorf("datagram %d: identification %#x, want %#x", i, id, 0xfffe+uint16(i))
		}
		var sum uint32
		for k := 0; k < 20; k += 2 {
			sum += uint32(binary.BigEndian.Uint16(sip[k:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		if sum != 0xffff {
			t.Errorf("datagram %d: IPv4 header checksum does not hold", i)
		}
		joined = append(joined, f[14+28:]...)
	}
	if !bytes.Equal(joined, payload) {
		t.Error("the datagrams' payloads are not the run's")
	}
	clear(hdr)
	if one := splitUDPGSO(hdr, frame); len(one) != 1 || !bytes.Equal(one[0], frame) {
		t.Error("a frame without GSO was not passed as it is")
	}
}
