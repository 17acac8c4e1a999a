package peers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// viciMaxPacket bounds what we accept from the daemon (its own limit is 512 KiB).
const viciMaxPacket = 1 << 20

// viciConn is one connection to charon's vici socket. It is used by one goroutine at a time.
type viciConn struct {
	c net.Conn
}

func dialVici(ctx context.Context, socket string) (*viciConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("vici: connect %s: %w", socket, err)
	}
	return &viciConn{c: c}, nil
}

func (v *viciConn) Close() error { return v.c.Close() }

func (v *viciConn) write(p viciPacket) error {
	b, err := p.marshal()
	if err != nil {
		return fmt.Errorf("vici: encode %q: %w", p.name, err)
	}
	if _, err := v.c.Write(b); err != nil {
		return fmt.Errorf("vici: send %q: %w", p.name, err)
	}
	return nil
}

func (v *viciConn) read() (viciPacket, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(v.c, hdr[:]); err != nil {
		return viciPacket{}, fmt.Errorf("vici: read packet length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > viciMaxPacket {
		return viciPacket{}, fmt.Errorf("vici: packet length %d out of range 1..%d", n, viciMaxPacket)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(v.c, buf); err != nil {
		return viciPacket{}, fmt.Errorf("vici: read %d-byte packet: %w", n, err)
	}
	return parseViciPacket(buf)
}

// register subscribes to event name.
func (v *viciConn) register(name string, on bool) error {
	typ := uint8(viciEventRegister)
	if !on {
		typ = viciEventUnregister
	}
	if err := v.write(viciPacket{typ: typ, name: name}); err != nil {
		return err
	}
	p, err := v.read()
	if err != nil {
		return err
	}
	switch p.typ {
	case viciEventConfirm:
		return nil
	case viciEventUnknown:
		return fmt.Errorf("vici: daemon does not know event %q", name)
	default:
		return fmt.Errorf("vici: (un)register %q: unexpected packet type %d", name, p.typ)
	}
}

// call sends command cmd and returns its response. Events named event that arrive before the
// response are passed to onEvent (event "" means none are registered).
func (v *viciConn) call(ctx context.Context, cmd string, req *ViciMessage, event string, onEvent func(*ViciMessage)) (*ViciMessage, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := v.c.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("vici: %s: set deadline: %w", cmd, err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = v.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if event != "" {
		if err := v.register(event, true); err != nil {
			return nil, err
		}
	}
	if req == nil {
		req = NewViciMessage()
	}
	if err := v.write(viciPacket{typ: viciCmdRequest, name: cmd, msg: req}); err != nil {
		return nil, err
	}
	for {
		p, err := v.read()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("vici: %s: %w", cmd, errors.Join(ctx.Err(), err))
			}
			return nil, fmt.Errorf("vici: %s: %w", cmd, err)
		}
		switch p.typ {
		case viciEvent:
			if p.name == event && onEvent != nil {
				onEvent(p.msg)
			}
		case viciCmdResponse:
			if event != "" {
				if err := v.register(event, false); err != nil {
					return nil, err
				}
			}
			return p.msg, nil
		case viciCmdUnknown:
			return nil, fmt.Errorf("vici: daemon does not know command %q", cmd)
		default:
			return nil, fmt.Errorf("vici: %s: unexpected packet type %d", cmd, p.typ)
		}
	}
}

// viciCall dials socket, runs one command and closes the connection.
func viciCall(ctx context.Context, socket, cmd string, req *ViciMessage, event string, onEvent func(*ViciMessage)) (*ViciMessage, error) {
	c, err := dialVici(ctx, socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.call(ctx, cmd, req, event, onEvent)
}
