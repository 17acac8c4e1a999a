package xfrm

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// executor runs netlink work on one OS thread that sits in the data plane's
// network namespace. Netlink and /proc/sys/net act on the namespace of the
// calling thread, so every request and sysctl goes through here.
type executor struct {
	ops  chan func()
	sock *nl.SocketHandle // one request socket in the namespace; nil: one per request
}

// startExecutor starts the thread; nsPath "" keeps the current namespace.
func startExecutor(nsPath string) (*executor, error) {
	e := &executor{ops: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: if the thread moved to another namespace, the
		// runtime throws it away when this goroutine ends.
		runtime.LockOSThread()
		if nsPath != "" {
			h, err := netns.GetFromPath(nsPath)
			if err != nil {
				ready <- fmt.Errorf("open network namespace %s: %w", nsPath, err)
				return
			}
			err = netns.Set(h)
			h.Close()
			if err != nil {
				ready <- fmt.Errorf("enter network namespace %s: %w", nsPath, err)
				return
			}
		}
		// One socket for all requests: a socket per request costs five
		// system calls more, which shows at 10,000 SA pairs.
		s, err := nl.Subscribe(unix.NETLINK_XFRM)
		if err == nil {
			err = s.SetExtAck(true)
		}
		if err == nil {
			err = s.SetReceiveTimeout(&unix.Timeval{Sec: 30})
		}
		if err != nil {
			if s != nil {
				s.Close()
			}
			ready <- fmt.Errorf("open XFRM netlink socket: %w", err)
			return
		}
		e.sock = &nl.SocketHandle{Socket: s}
		defer s.Close()
		ready <- nil
		for f := range e.ops {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return e, nil
}

func (e *executor) do(f func() error) error {
	if e.ops == nil {
		return f() // inline executor: the caller's thread is already in place
	}
	res := make(chan error, 1)
	e.ops <- func() { res <- f() }
	return <-res
}

func (e *executor) stop() { close(e.ops) }

// request sends one XFRM netlink message and returns the replies of type
// resType (0: all). The kernel's extended ack message, when it sends one, is
// part of the error (nl.EnableErrorMessageReporting).
func (e *executor) request(msgType int, flags int, head []byte, attrs ...*nl.RtAttr) ([][]byte, error) {
	var out [][]byte
	err := e.do(func() error {
		req := e.newRequest(msgType, flags|unix.NLM_F_ACK)
		req.AddData(rawData(head))
		for _, a := range attrs {
			req.AddData(a)
		}
		var err error
		out, err = req.Execute(unix.NETLINK_XFRM, 0)
		return err
	})
	return out, err
}

// dump runs a NLM_F_DUMP request.
func (e *executor) dump(msgType int, head []byte) ([][]byte, error) {
	var out [][]byte
	err := e.do(func() error {
		req := e.newRequest(msgType, unix.NLM_F_DUMP)
		if head != nil {
			req.AddData(rawData(head))
		}
		var err error
		out, err = req.Execute(unix.NETLINK_XFRM, 0)
		if errors.Is(err, nl.ErrDumpInterrupted) {
			// A concurrent change; one retry gives a consistent view.
			out, err = req.Execute(unix.NETLINK_XFRM, 0)
		}
		return err
	})
	return out, err
}

func (e *executor) newRequest(msgType, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(msgType, flags)
	if e.sock != nil {
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: e.sock}
	}
	return req
}
