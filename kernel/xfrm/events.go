package xfrm

import (
	"fmt"
	"net/netip"
)

// acquireMsg is a decoded XFRM_MSG_ACQUIRE (struct xfrm_user_acquire).
type acquireMsg struct {
	Flow   selector // the exact flow that hit the policy (/32 or /128, ports)
	Policy policy   // the policy that raised it (selector, priority, index)
	Dst    netip.Addr
	Src    netip.Addr
	Seq    uint32
}

// parseAcquire decodes an ACQUIRE: id (24) saddr (16) sel (56) policy (168)
// aalgos ealgos calgos seq, then attributes we don't need.
func parseAcquire(b []byte) (acquireMsg, error) {
	if len(b) < sizeofAcquire {
		return acquireMsg{}, fmt.Errorf("acquire: %d bytes, want at least %d", len(b), sizeofAcquire)
	}
	const offSaddr, offSel, offPol = sizeofID, sizeofID + sizeofAddress, sizeofID + sizeofAddress + sizeofSelector
	flow, err := flowSelector(b[offSel:])
	if err != nil {
		return acquireMsg{}, fmt.Errorf("acquire: flow %w", err)
	}
	pol, err := parsePolicy(b[offPol : offPol+sizeofPolicyInfo])
	if err != nil {
		return acquireMsg{}, fmt.Errorf("acquire: %w", err)
	}
	m := acquireMsg{Flow: flow, Policy: pol, Seq: ne.Uint32(b[276:])}
	m.Dst, _ = parseAddr(b[0:], flow.family())
	m.Src, _ = parseAddr(b[offSaddr:], flow.family())
	return m, nil
}

// expireMsg is a decoded XFRM_MSG_EXPIRE (struct xfrm_user_expire).
type expireMsg struct {
	State stateInfo
	Hard  bool
}

func parseExpire(b []byte) (expireMsg, error) {
	if len(b) < sizeofUsersaInfo+1 {
		return expireMsg{}, fmt.Errorf("expire: %d bytes, want at least %d", len(b), sizeofUsersaInfo+1)
	}
	si, err := parseState(b[:sizeofUsersaInfo])
	if err != nil {
		return expireMsg{}, fmt.Errorf("expire: %w", err)
	}
	return expireMsg{State: si, Hard: b[sizeofUsersaInfo] != 0}, nil
}

// polExpireMsg is a decoded XFRM_MSG_POLEXPIRE (struct xfrm_user_polexpire).
type polExpireMsg struct {
	Policy policy
	Hard   bool
}

func parsePolExpire(b []byte) (polExpireMsg, error) {
	if len(b) < sizeofPolicyInfo+1 {
		return polExpireMsg{}, fmt.Errorf("policy expire: %d bytes, want at least %d", len(b), sizeofPolicyInfo+1)
	}
	p, err := parsePolicy(b[:sizeofPolicyInfo])
	if err != nil {
		return polExpireMsg{}, fmt.Errorf("policy expire: %w", err)
	}
	return polExpireMsg{Policy: p, Hard: b[sizeofPolicyInfo] != 0}, nil
}
