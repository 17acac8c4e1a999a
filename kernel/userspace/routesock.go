package userspace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// routeSock writes the routes of our table (traps and SA routes) over a
// NETLINK_ROUTE socket of its own, a message per change and several in one
// sendmsg where a change needs several (route_bench_test.go measures the
// parts).
//
// Every CHILD SA adds a route and removes it (saroute.go). Through
// vishvananda/netlink's Handle a route change costs, besides the kernel's
// own FIB work, a getsockname, two socket deadlines and a 64 KiB receive
// buffer cleared per call; here it is one sendmsg and one
// recvfrom on a blocking socket into a buffer kept for the next. The
// kernel handles an rtnetlink request within the sendmsg, so its ack is
// queued when sendmsg returns and the recvfrom never waits for it.
//
// The messages are the ones the Handle's RouteReplace and RouteDel write
// for the same route (same rtmsg, table and attributes), so what the
// kernel installs and what it matches on delete do not change.
//
// A routeSock is used with Device.routeMu held (or in New, before the
// device is shared): it is not safe for concurrent use.
type routeSock struct {
	fd  int
	seq uint32
	buf []byte // the request(s) being written
	rcv []byte // acks read back
	msg routeMsg
	to  unix.SockaddrNetlink
	// msgs and calls count the route messages written and the sendmsg
	// calls that carried them (tests read them).
	msgs, calls uint64
}

// routeOp is one route change: add (or replace) or delete.
type routeOp struct {
	del bool
	dst netip.Prefix
	typ uint8 // unix.RTN_*
	// scope and oif as the Handle writes them: link scope and the TUN
	// device's index for a route into it, zero for throw and blackhole.
	scope uint8
	oif   uint32
	table uint32
}

// openRouteSock opens the socket in the network namespace of the calling
// OS thread.
func openRouteSock() (*routeSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("route socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route socket: bind: %w", err)
	}
	// An error's ack then carries the failed message's header only, not
	// the whole message: acks stay small whatever the batch.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// The kernel answers within sendmsg; the timeout only bounds a
	// recvfrom that would wait for an ack lost to a full receive buffer.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route socket: receive timeout: %w", err)
	}
	return &routeSock{fd: fd, rcv: make([]byte, 8192), to: unix.SockaddrNetlink{Family: unix.AF_NETLINK}}, nil
}

func (s *routeSock) close() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// maxBatch is the most route messages exec writes in one sendmsg.
const maxBatch = 64

// exec writes ops, maxBatch at a time, in one sendmsg each and reads an
// ack for each; errs[i] is ops[i]'s error (a syscall.Errno from the
// kernel, so errors.Is works as with the Handle). The kernel carries on
// after a failed message: each op stands alone, as if written one by one.
func (s *routeSock) exec(ops []routeOp, errs []error) {
	for len(ops) > maxBatch {
		s.execBatch(ops[:maxBatch], errs[:maxBatch])
		ops, errs = ops[maxBatch:], errs[maxBatch:]
	}
	s.execBatch(ops, errs)
}

func (s *routeSock) execBatch(ops []routeOp, errs []error) {
	if len(ops) == 0 {
		return
	}
	if s.fd < 0 {
		for i := range errs {
			errs[i] = errors.New("route socket: closed")
		}
		return
	}
	first := s.seq + 1
	s.buf = s.buf[:0]
	for i := range ops {
		s.seq++
		s.buf = s.msg.appendRouteMsg(s.buf, s.seq, &ops[i])
		errs[i] = nil
	}
	s.msgs += uint64(len(ops))
	s.calls++
	if err := unix.Sendto(s.fd, s.buf, 0, &s.to); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("route socket: send: %w", err)
		}
		return
	}
	var acked uint64 // bit i: ops[i] answered
	all := uint64(1)<<len(ops) - 1
	if len(ops) == 64 {
		all = ^uint64(0)
	}
	for acked != all {
		n, from, err := unix.Recvfrom(s.fd, s.rcv, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			for i := range ops {
				if acked&(1<<i) == 0 {
					errs[i] = fmt.Errorf("route socket: ack: %w", err)
				}
			}
			return
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not the kernel
		}
		msgs, err := syscall.ParseNetlinkMessage(s.rcv[:n])
		if err != nil {
			continue // a truncated read: not an ack we can use
		}
		for _, m := range msgs {
			i := m.Header.Seq - first
			if m.Header.Type != unix.NLMSG_ERROR || i >= uint32(len(ops)) || acked&(1<<i) != 0 || len(m.Data) < 4 {
				// Anything else (an ack of an earlier call that timed
				// out) is not ours to read.
				continue
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data[0:4])); e != 0 {
				errs[i] = syscall.Errno(-e)
			}
			acked |= 1 << i
		}
	}
}

// routeMsg holds the nl objects a route message is built from, kept from
// one message to the next: made afresh for each message, as the Handle
// makes them, they cost about a dozen allocations a message, and every
// CHILD SA writes two. Used with its routeSock, under Device.routeMu.
type routeMsg struct {
	req             nl.NetlinkRequest
	rt              nl.RtMsg
	dst, table, oif nl.RtAttr
	data            [4]nl.NetlinkRequestData
	addr            [16]byte
	tableID, oifID  [4]byte
}

// appendRouteMsg appends the RTM_NEWROUTE (NLM_F_CREATE|NLM_F_REPLACE) or
// RTM_DELROUTE request for op, built with vishvananda/netlink's nl types
// as its Handle builds them: the rtmsg, then RTA_DST, RTA_TABLE (for a
// table above 255) and RTA_OIF. Only the socket and the batching are
// ours.
func (m *routeMsg) appendRouteMsg(b []byte, seq uint32, op *routeOp) []byte {
	if op.del {
		m.req = *nl.NewNetlinkRequest(unix.RTM_DELROUTE, unix.NLM_F_ACK)
		m.rt = *nl.NewRtDelMsg()
	} else {
		m.req = *nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
		m.rt = *nl.NewRtMsg()
	}
	m.req.Seq = seq
	dst := op.dst.Addr()
	var addr []byte
	m.rt.Family = unix.AF_INET6
	if dst.Is4() || dst.Is4In6() {
		m.rt.Family = unix.AF_INET
		m.addr = [16]byte{}
		a := dst.Unmap().As4()
		addr = append(m.addr[:0], a[:]...)
	} else {
		m.addr = dst.As16()
		addr = m.addr[:]
	}
	m.rt.Dst_len = uint8(op.dst.Bits())
	m.rt.Scope = op.scope
	m.rt.Type = op.typ
	if op.typ == 0 && !op.del {
		m.rt.Type = unix.RTN_UNICAST
	}
	m.rt.Table = unix.RT_TABLE_UNSPEC
	if op.table < 256 {
		m.rt.Table = uint8(op.table)
	}
	m.req.Data = append(m.data[:0], &m.rt)
	m.dst = *nl.NewRtAttr(unix.RTA_DST, addr)
	m.req.AddData(&m.dst)
	if op.table >= 256 {
		nl.NativeEndian().PutUint32(m.tableID[:], op.table)
		m.table = *nl.NewRtAttr(unix.RTA_TABLE, m.tableID[:])
		m.req.AddData(&m.table)
	}
	nl.NativeEndian().PutUint32(m.oifID[:], op.oif)
	m.oif = *nl.NewRtAttr(unix.RTA_OIF, m.oifID[:])
	m.req.AddData(&m.oif)
	return append(b, m.req.Serialize()...)
}

// errNoRoute is the kernel's answer to a delete of a route it does not
// hold: not an error for us (the route is gone either way).
var errNoRoute = syscall.ESRCH
