package xfrm

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// tmpl is the one ESP template of a policy. Src and Dst are the outer
// addresses; when they are unset the family's zero address is written, which
// IPv6 needs: netlink's own encoding writes AF_INET for an unset address,
// and the kernel rejects a template whose family differs from the
// selector's with EINVAL.
type tmpl struct {
	Src, Dst netip.Addr
	Family   uint16
	Mode     uint8
	Reqid    uint32
}

// policy is one XFRM policy as we install and read it.
type policy struct {
	Sel      selector
	Dir      uint8
	Action   uint8
	Priority uint32
	Index    uint32        // set by the kernel; read from dumps
	Tmpl     *tmpl         // nil: no transform (pass or block)
	HardAdd  time.Duration // kernel lifetime; 0 = none
	UseTime  time.Time     // last lookup (read back only)
}

func (p policy) String() string {
	dir := [...]string{"in", "out", "fwd"}
	d := "dir?"
	if int(p.Dir) < len(dir) {
		d = dir[p.Dir]
	}
	what := "trap"
	switch {
	case p.Action == actionBlock:
		what = "block"
	case p.Tmpl == nil:
		what = "pass"
	case p.Tmpl.Mode == modeTunnel:
		what = "esp tunnel"
	}
	return fmt.Sprintf("policy %s %s %s prio %d", p.Sel, d, what, p.Priority)
}

func (p policy) marshalInfo() []byte {
	b := make([]byte, sizeofPolicyInfo)
	putSelector(b, p.Sel)
	secs := uint64(0)
	if p.HardAdd > 0 {
		secs = uint64((p.HardAdd + time.Second - 1) / time.Second)
	}
	putLft(b[offPolLft:], 0, 0, 0, secs)
	ne.PutUint32(b[offPolPrio:], p.Priority)
	ne.PutUint32(b[offPolIndex:], p.Index)
	b[offPolDir] = p.Dir
	b[offPolAction] = p.Action
	return b
}

func (t tmpl) marshal() []byte {
	b := make([]byte, sizeofTmpl)
	putAddr(b[0:], t.Dst)            // id.daddr
	b[20] = protoESP                 // id.proto (spi 0: any)
	ne.PutUint16(b[24:], t.Family)   // family
	putAddr(b[28:], t.Src)           // saddr
	ne.PutUint32(b[44:], t.Reqid)    // reqid
	b[48] = t.Mode                   // mode
	ne.PutUint32(b[52:], 0xffffffff) // aalgos
	ne.PutUint32(b[56:], 0xffffffff) // ealgos
	ne.PutUint32(b[60:], 0xffffffff) // calgos
	return b
}

func parseTmpl(b []byte) (tmpl, error) {
	if len(b) < sizeofTmpl {
		return tmpl{}, fmt.Errorf("template: %d bytes, want %d", len(b), sizeofTmpl)
	}
	t := tmpl{Family: ne.Uint16(b[24:]), Reqid: ne.Uint32(b[44:]), Mode: b[48]}
	var err error
	if t.Dst, err = parseAddr(b[0:], t.Family); err != nil {
		return t, fmt.Errorf("template: %w", err)
	}
	t.Src, _ = parseAddr(b[28:], t.Family)
	return t, nil
}

// parsePolicy decodes an xfrm_userpolicy_info and its attributes.
func parsePolicy(b []byte) (policy, error) {
	if len(b) < sizeofPolicyInfo {
		return policy{}, fmt.Errorf("policy: %d bytes, want at least %d", len(b), sizeofPolicyInfo)
	}
	sel, err := parseSelector(b)
	if err != nil {
		return policy{}, fmt.Errorf("policy: %w", err)
	}
	p := policy{
		Sel:      sel,
		Priority: ne.Uint32(b[offPolPrio:]),
		Index:    ne.Uint32(b[offPolIndex:]),
		Dir:      b[offPolDir],
		Action:   b[offPolAction],
		HardAdd:  time.Duration(ne.Uint64(b[offPolLft+40:])) * time.Second,
	}
	if t := ne.Uint64(b[offPolLft+sizeofLftCfg+24:]); t != 0 {
		p.UseTime = time.Unix(int64(t), 0)
	}
	attrs, err := parseAttrs(b[sizeofPolicyInfo:])
	if err != nil {
		return p, fmt.Errorf("policy %s: attributes: %w", sel, err)
	}
	for _, a := range attrs {
		if a.Type == nl.XFRMA_TMPL && len(a.Value) >= sizeofTmpl {
			t, err := parseTmpl(a.Value)
			if err != nil {
				return p, fmt.Errorf("policy %s: %w", sel, err)
			}
			p.Tmpl = &t
		}
	}
	return p, nil
}

// putPolicy adds (or with update, adds or replaces) a policy.
func (e *executor) putPolicy(p policy, update bool) error {
	msg := nl.XFRM_MSG_NEWPOLICY
	if update {
		msg = nl.XFRM_MSG_UPDPOLICY
	}
	var attrs []*nl.RtAttr
	if p.Tmpl != nil {
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_TMPL, p.Tmpl.marshal()))
	}
	if _, err := e.request(msg, unix.NLM_F_CREATE, p.marshalInfo(), attrs...); err != nil {
		return fmt.Errorf("install %s: %w", p, err)
	}
	return nil
}

// delPolicy deletes the policy with exactly this selector and direction.
func (e *executor) delPolicy(sel selector, dir uint8) error {
	b := make([]byte, sizeofPolicyID)
	putSelector(b, sel)
	b[60] = dir
	if _, err := e.request(nl.XFRM_MSG_DELPOLICY, 0, b); err != nil {
		return fmt.Errorf("delete policy %s dir %d: %w", sel, dir, err)
	}
	return nil
}

// getPolicy reads the policy with exactly this selector and direction.
func (e *executor) getPolicy(sel selector, dir uint8) (policy, error) {
	b := make([]byte, sizeofPolicyID)
	putSelector(b, sel)
	b[60] = dir
	msgs, err := e.request(nl.XFRM_MSG_GETPOLICY, 0, b)
	if err != nil {
		return policy{}, fmt.Errorf("read policy %s dir %d: %w", sel, dir, err)
	}
	if len(msgs) == 0 {
		return policy{}, fmt.Errorf("read policy %s dir %d: empty answer", sel, dir)
	}
	return parsePolicy(msgs[0])
}

// delPolicyIndex deletes a policy by its kernel index.
func (e *executor) delPolicyIndex(p policy) error {
	b := make([]byte, sizeofPolicyID)
	ne.PutUint16(b[offSelFamily:], p.Sel.family())
	ne.PutUint32(b[56:], p.Index)
	b[60] = p.Dir
	if _, err := e.request(nl.XFRM_MSG_DELPOLICY, 0, b); err != nil {
		return fmt.Errorf("delete %s (index %d): %w", p, p.Index, err)
	}
	return nil
}

// policies dumps the main policy table.
func (e *executor) policies() ([]policy, error) {
	msgs, err := e.dump(nl.XFRM_MSG_GETPOLICY, nil)
	if err != nil {
		return nil, fmt.Errorf("dump policies: %w", err)
	}
	out := make([]policy, 0, len(msgs))
	for _, m := range msgs {
		p, err := parsePolicy(m)
		if err != nil {
			return nil, fmt.Errorf("dump policies: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
